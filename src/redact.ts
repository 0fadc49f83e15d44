// The configured secrets, and the net that keeps them out of what the gateway writes: logs (logger-options.ts),
// call records (so traces, the journal and the viewer) and the upstream answers it passes on.
import type { Config } from './config.ts';

export const redacted = '[redacted]';
/** Shorter values are not searched for: a test key such as `k` would otherwise be replaced all over the text. */
export const minSecretLength = 8;

/**
 * Every configured secret long enough to search for: our API keys, the OpenRouter key, the Langfuse keys and the
 * Basic credentials they make. `generated`: also a key made for this run (the log shows it once on purpose).
 */
export function configuredSecrets(config: Config, options: { generated?: boolean } = {}): string[] {
  const { publicKey, secretKey } = config.langfuse ?? {};
  return [
    ...(config.apiKeyGenerated && !options.generated ? [] : config.apiKeys),
    config.openrouter.apiKey,
    publicKey && secretKey ? Buffer.from(`${publicKey}:${secretKey}`).toString('base64') : undefined,
    publicKey,
    secretKey,
  ].filter((value): value is string => typeof value === 'string' && value.length >= minSecretLength);
}

/**
 * The secrets as they appear inside JSON strings (a quote or a backslash in a key is escaped there). Only that form
 * is searched in JSON text: the raw form of a key ending in a backslash would match half of an escape.
 */
export function jsonSecrets(secrets: readonly string[]): string[] {
  return [...new Set(secrets.filter((secret) => secret.length >= minSecretLength).map((secret) => JSON.stringify(secret).slice(1, -1)))];
}

/** `text` with every occurrence of each secret replaced; one search per secret when none occurs. */
export function redactText(text: string, secrets: readonly string[]): string {
  let clean = text;
  for (const secret of secrets) if (clean.includes(secret)) clean = clean.replaceAll(secret, redacted);
  return clean;
}

/**
 * JSON text (a call record, a log line) with the secrets (`jsonSecrets`) replaced, still valid JSON: when replacing
 * the text would break it (a key that is all digits, matched in a number), the strings of the parsed value, keys
 * included, are replaced instead (numbers then go through JSON.parse: one beyond 2^53 loses digits). One search per
 * secret when none occurs.
 */
export function redactJson(text: string, secrets: readonly string[]): string {
  const clean = redactText(text, secrets);
  if (clean === text) return text;
  try {
    JSON.parse(clean);
    return clean;
  } catch {
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      return clean; // not JSON in the first place
    }
    const plain = secrets.map(unescape);
    const walk = (item: unknown): unknown => {
      if (typeof item === 'string') return redactText(item, plain);
      if (Array.isArray(item)) return item.map(walk);
      if (item === null || typeof item !== 'object') return item;
      return Object.fromEntries(Object.entries(item).map(([key, inner]) => [redactText(key, plain), walk(inner)]));
    };
    return JSON.stringify(walk(value)) + (text.endsWith('\n') ? '\n' : '');
  }
}

/** A JSON-escaped secret back as the characters a parsed string holds. */
const unescape = (secret: string): string => JSON.parse(`"${secret}"`) as string;

/** The same for bytes (an answer, stream events: JSON text): the same buffer when no secret occurs in it. */
export function redactBytes(bytes: Buffer, secrets: readonly string[]): Buffer {
  return secrets.some((secret) => bytes.includes(secret)) ? Buffer.from(redactText(bytes.toString('utf8'), secrets)) : bytes;
}
