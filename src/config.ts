// The only reader of process.env: every setting parsed and validated once, errors name the variable.
import { existsSync, readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { parseEnv } from 'node:util';
import { z } from 'zod';

export interface Config {
  port: number;
  host: string;
  logLevel: string;
  prettyLogs: boolean;
  apiKeys: string[];
  /** True when API_KEY was unset and a random key was made for this run (the seed's behaviour). */
  apiKeyGenerated: boolean;
  openrouter: { apiKey?: string; baseUrl: string; httpReferer?: string; title?: string };
  langfuse?: { host: string; publicKey: string; secretKey: string };
  /** Set when only one of the two Langfuse keys is given, to explain at start-up. */
  langfuseProblem?: string;
  langfuseHost: string;
  corsOrigins: '*' | string[];
  dataDir: string;
  upstreamTimeoutMs: number;
  streamIdleTimeoutMs: number;
  maxStreamMs: number;
  bodyLimitBytes: number;
  /** Largest request head (request line and headers) a client may send; above it, 431. */
  maxHeaderBytes: number;
  shutdownDrainMs: number;
  traces: {
    captureContent: boolean;
    sampleRate: number;
    defaultTags: string[];
    environment?: string;
    release?: string;
    retentionDays: number;
    maxJournalBytes: number;
    flushTimeoutMs: number;
  };
  authFailures: { limit: number; windowMs: number };
}

export class ConfigError extends Error {}

const positive = (what: string) => z.coerce.number({ message: `expected ${what}` }).positive(`expected ${what}`);
const flag = z.enum(['true', 'false', '1', '0', 'yes', 'no', 'on', 'off'], { message: 'expected true or false' })
  .transform((value) => ['true', '1', 'yes', 'on'].includes(value));
const url = z.url({ message: 'expected an http(s) URL such as https://example.com' })
  .refine((value) => /^https?:\/\//.test(value), 'expected an http(s) URL such as https://example.com')
  // A user:password@ in the URL would never be sent (the keys authenticate) but would be printed at start-up.
  .refine((value) => !URL.canParse(value) || (new URL(value).username === '' && new URL(value).password === ''),
    'expected no user:password@ in the URL (it is not used: the API keys authenticate); remove it')
  .transform((value) => value.replace(/\/+$/, ''));
const list = (value: string) => value.split(',').map((item) => item.trim()).filter(Boolean);

// Empty strings count as unset, like most dotenv users expect (`API_KEY=` in .env.example).
const optionalText = z.string().trim().optional().transform((value) => value || undefined);
/** Sent as a bearer token: a pasted key with a space or an invisible character would fail every upstream call. */
const bearerKey = optionalText.superRefine((value, context) => {
  if (value === undefined || /^[\x21-\x7e]+$/.test(value)) return;
  const at = [...value].findIndex((char) => !/[\x21-\x7e]/.test(char));
  const code = [...value][at]?.codePointAt(0) ?? 0;
  context.addIssue({ code: 'custom', message: `expected a key of visible ASCII characters; character ${at + 1} is U+${code.toString(16).toUpperCase().padStart(4, '0')} (pasted with the key?)` });
});
/** Sent as an HTTP header value: Latin-1 without control characters, or every upstream call would fail. */
const headerText = optionalText.refine((value) => value === undefined || !/[^\t\x20-\x7e\x80-\xff]/.test(value),
  'expected plain text that fits an HTTP header (Latin-1, no emoji or other characters beyond it)');
// Langfuse keeps an environment only if it is lower case, at most 40 of [a-z0-9-_] and not "langfuse..."; anything
// else becomes "default" there (../shared/contracts/langfuse-otel-attributes.md). Lower-cased here, refused otherwise.
const environmentName = optionalText.transform((value) => value?.toLowerCase())
  .refine((value) => value === undefined || (/^[a-z0-9_-]{1,40}$/.test(value) && !value.startsWith('langfuse')),
    'expected at most 40 characters of a-z, 0-9, "-" and "_", not starting with "langfuse" (Langfuse shows anything else as "default")');

const schema = z.object({
  PORT: z.coerce.number({ message: 'expected a port number' }).int('expected a whole port number').min(0).max(65535).default(8000),
  HOST: z.string().min(1).default('0.0.0.0'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  LOG_FORMAT: z.enum(['json', 'pretty', 'auto']).default('auto'),
  API_KEY: optionalText,
  OPENROUTER_API_KEY: bearerKey,
  OPENROUTER_BASE_URL: url.default('https://openrouter.ai/api/v1'),
  HTTP_REFERER: headerText,
  X_TITLE: headerText,
  LANGFUSE_PUBLIC_KEY: optionalText,
  LANGFUSE_SECRET_KEY: optionalText,
  LANGFUSE_HOST: url.optional(),
  LANGFUSE_BASE_URL: url.optional(),
  LANGFUSE_ENVIRONMENT: environmentName,
  LANGFUSE_TRACING_ENVIRONMENT: environmentName,
  LANGFUSE_RELEASE: optionalText,
  CORS_ORIGINS: z.string().default('*'),
  DATA_DIR: z.string().min(1).default('./data'),
  UPSTREAM_TIMEOUT_S: positive('a number of seconds').default(300),
  STREAM_IDLE_TIMEOUT_S: positive('a number of seconds').default(120),
  MAX_STREAM_S: positive('a number of seconds').default(3600),
  BODY_LIMIT_MB: positive('a number of megabytes').default(32),
  MAX_HEADER_KB: positive('a number of kilobytes').default(32),
  SHUTDOWN_DRAIN_S: z.coerce.number({ message: 'expected a number of seconds' }).min(0).default(30),
  TRACE_CONTENT: flag.default(true),
  TRACE_SAMPLE_RATE: z.coerce.number({ message: 'expected a number from 0 to 1' }).min(0, 'expected a number from 0 to 1').max(1, 'expected a number from 0 to 1').default(1),
  TRACE_TAGS: z.string().default(''),
  TRACE_RETENTION_DAYS: positive('a number of days').default(30),
  TRACE_JOURNAL_MAX_MB: positive('a number of megabytes').default(1024),
  TRACE_FLUSH_TIMEOUT_S: z.coerce.number({ message: 'expected a number of seconds' }).min(0).default(5),
  AUTH_FAILURE_LIMIT: z.coerce.number({ message: 'expected a whole number' }).int().min(1).default(10),
  AUTH_FAILURE_WINDOW_S: positive('a number of seconds').default(60),
});

/** The process's own settings: its environment over `.env` in the working directory. */
export function processEnvironment(): Record<string, string | undefined> {
  return readEnvironment(process.env, process.cwd());
}

/** Names that mean the same setting: one set in the environment wins over all of them in `.env`. */
const aliases = [['LANGFUSE_HOST', 'LANGFUSE_BASE_URL'], ['LANGFUSE_ENVIRONMENT', 'LANGFUSE_TRACING_ENVIRONMENT']];

/** Reads `.env` from `cwd` (if present) under the environment: the environment wins, unless it is empty there. */
export function readEnvironment(env: NodeJS.ProcessEnv, cwd: string): Record<string, string | undefined> {
  const file = join(cwd, '.env');
  const isSet = (value: string | undefined): value is string => value !== undefined && value.trim() !== '';
  const merged: Record<string, string | undefined> = existsSync(file) ? expandVariables(parseDotenv(readFileSync(file, 'utf8')), env) : {};
  for (const names of aliases) {
    if (names.some((name) => isSet(env[name]))) for (const name of names) if (!isSet(env[name])) delete merged[name];
  }
  for (const [name, value] of Object.entries(env)) if (value !== undefined && (isSet(value) || !(name in merged))) merged[name] = value;
  return merged;
}

const variableReference = /\$\{([^}:]*)(?::-([^}]*))?\}/g;

/**
 * python-dotenv's expansion (the seed's `load_dotenv()`): `${NAME}` and `${NAME:-default}` in any value, quoted or
 * not, from the environment first, then from the values above it in the file, then the default, else empty.
 * `$NAME` without braces stays as it is.
 */
export function expandVariables(values: Record<string, string>, env: NodeJS.ProcessEnv): Record<string, string> {
  const resolved = new Map<string, string>();
  for (const [name, value] of Object.entries(values)) {
    resolved.set(name, value.replace(variableReference, (_match, reference: string, fallback: string | undefined) => {
      const fromEnvironment = Object.hasOwn(env, reference) ? env[reference] : undefined;
      if (fromEnvironment !== undefined && fromEnvironment.trim() !== '') return fromEnvironment;
      return resolved.get(reference) ?? fallback ?? '';
    }));
  }
  return Object.fromEntries(resolved);
}

/**
 * A `.env` file as the seed's python-dotenv reads it: node:util's parseEnv, except that in an unquoted value `#`
 * starts a comment only after whitespace. parseEnv cuts `API_KEY=Str0ng#Pass` to `Str0ng`: a key that would then
 * fail, and a weak one that would work.
 */
export function parseDotenv(text: string): Record<string, string> {
  const values = parseEnv(text) as Record<string, string>;
  // The last assignment of each name is the one that counts, as in parseEnv; lines inside a quoted value that spans
  // several lines are part of that value, not assignments.
  const last = new Map<string, string>();
  let openQuote: string | undefined;
  for (const line of text.split(/\r?\n/)) {
    if (openQuote !== undefined) {
      if (line.includes(openQuote)) openQuote = undefined;
      continue;
    }
    const match = /^\s*(?:export\s+)?([\w.-]+)\s*=([^\S\r\n]*)(.*)$/.exec(line);
    if (!match) continue;
    const value = match[3] ?? '';
    const quote = /^["'`]/.exec(value)?.[0];
    if (quote !== undefined && !value.slice(1).includes(quote)) openQuote = quote;
    last.set(match[1] ?? '', match[2] ? `${match[2]}${value}` : value);
  }
  for (const [name, raw] of last) {
    // Quoted values, and a value that is only a comment (`API_KEY=   # set me`), are as parseEnv read them.
    if (/^\s*["'`]/.test(raw) || /^\s+#/.test(raw)) continue;
    const value = raw.replace(/\s+#.*$/, '').trim();
    // Only where parseEnv cut the value short at a `#`; anything else it read is left as it read it.
    const read = values[name];
    if (read !== undefined && read !== value && value.startsWith(read) && value[read.length] === '#') values[name] = value;
  }
  return values;
}

/** Values that must never be printed, not even in the error about themselves. */
const secretNames = new Set(['API_KEY', 'OPENROUTER_API_KEY', 'LANGFUSE_PUBLIC_KEY', 'LANGFUSE_SECRET_KEY']);

export function loadConfig(env: Record<string, string | undefined>, options: { isTerminal?: boolean } = {}): Config {
  // Empty values count as unset (`.env.example` has `OPENROUTER_API_KEY=`): the default applies.
  const set = Object.fromEntries(Object.entries(env).filter(([, value]) => value !== undefined && value.trim() !== ''));
  const parsed = schema.safeParse(set);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const name = String(issue?.path[0] ?? 'configuration');
    // The value is echoed to show what was read, but never a key, nor the credentials of a URL.
    if (secretNames.has(name)) throw new ConfigError(`Invalid ${name} (value not shown): ${issue?.message ?? 'invalid value'}`);
    const shown = (env[name] ?? '').replace(/\/\/[^/@]*@/, '//***@');
    throw new ConfigError(`Invalid ${name}=${JSON.stringify(shown)}: ${issue?.message ?? 'invalid value'}`);
  }
  const e = parsed.data;
  // Several keys are comma-separated; the whole value stays a key too, as the seed's single API_KEY was (only
  // beside at least one real key: `API_KEY=,` is no key at all).
  const keyParts = e.API_KEY ? list(e.API_KEY) : [];
  const apiKeys = keyParts.length > 0 ? [...new Set([...keyParts, (e.API_KEY ?? '').trim()])] : [];
  const apiKeyGenerated = apiKeys.length === 0;
  if (apiKeyGenerated) apiKeys.push(`gw-${randomBytes(24).toString('base64url')}`);

  const langfuseHost = e.LANGFUSE_HOST ?? e.LANGFUSE_BASE_URL ?? 'https://cloud.langfuse.com';
  const hasPublic = Boolean(e.LANGFUSE_PUBLIC_KEY);
  const hasSecret = Boolean(e.LANGFUSE_SECRET_KEY);
  const langfuse = e.LANGFUSE_PUBLIC_KEY && e.LANGFUSE_SECRET_KEY
    ? { host: langfuseHost, publicKey: e.LANGFUSE_PUBLIC_KEY, secretKey: e.LANGFUSE_SECRET_KEY }
    : undefined;
  const langfuseProblem = hasPublic !== hasSecret
    ? `${hasPublic ? 'LANGFUSE_SECRET_KEY' : 'LANGFUSE_PUBLIC_KEY'} is missing (both Langfuse keys are needed)`
    : undefined;

  return {
    port: e.PORT,
    host: e.HOST,
    logLevel: e.LOG_LEVEL,
    prettyLogs: e.LOG_FORMAT === 'pretty' || (e.LOG_FORMAT === 'auto' && Boolean(options.isTerminal)),
    apiKeys,
    apiKeyGenerated,
    openrouter: { apiKey: e.OPENROUTER_API_KEY, baseUrl: e.OPENROUTER_BASE_URL, httpReferer: e.HTTP_REFERER, title: e.X_TITLE },
    langfuse,
    langfuseProblem,
    langfuseHost,
    corsOrigins: e.CORS_ORIGINS.trim() === '*' ? '*' : list(e.CORS_ORIGINS),
    dataDir: e.DATA_DIR,
    upstreamTimeoutMs: e.UPSTREAM_TIMEOUT_S * 1000,
    streamIdleTimeoutMs: e.STREAM_IDLE_TIMEOUT_S * 1000,
    maxStreamMs: e.MAX_STREAM_S * 1000,
    bodyLimitBytes: Math.round(e.BODY_LIMIT_MB * 1024 * 1024),
    maxHeaderBytes: Math.round(e.MAX_HEADER_KB * 1024),
    shutdownDrainMs: e.SHUTDOWN_DRAIN_S * 1000,
    traces: {
      captureContent: e.TRACE_CONTENT,
      sampleRate: e.TRACE_SAMPLE_RATE,
      defaultTags: list(e.TRACE_TAGS),
      environment: e.LANGFUSE_ENVIRONMENT ?? e.LANGFUSE_TRACING_ENVIRONMENT,
      release: e.LANGFUSE_RELEASE,
      retentionDays: e.TRACE_RETENTION_DAYS,
      maxJournalBytes: Math.round(e.TRACE_JOURNAL_MAX_MB * 1024 * 1024),
      flushTimeoutMs: e.TRACE_FLUSH_TIMEOUT_S * 1000,
    },
    authFailures: { limit: e.AUTH_FAILURE_LIMIT, windowMs: e.AUTH_FAILURE_WINDOW_S * 1000 },
  };
}
