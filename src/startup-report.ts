// What start-up says: which integrations are configured, and for each missing one, how to fix it.
import type { Config } from './config.ts';
import { minSecretLength } from './redact.ts';

export function startupReport(config: Config, address: string): string[] {
  const base = address.replace('0.0.0.0', 'localhost').replace('[::]', 'localhost');
  const lines = [`gateway listening on ${address} (OpenAI base URL: ${base}/v1)`];
  lines.push(config.openrouter.apiKey
    ? `OpenRouter: configured (${config.openrouter.baseUrl})`
    : 'OpenRouter: NOT configured. Set OPENROUTER_API_KEY (in the environment or .env) and restart; until then LLM calls answer 503.');
  if (config.langfuse) lines.push(`Langfuse: traces are sent to ${config.langfuse.host}`);
  else if (config.langfuseProblem) lines.push(`Langfuse: NOT configured: ${config.langfuseProblem}. Traces are kept locally only.`);
  else lines.push(`Langfuse: not configured (set LANGFUSE_PUBLIC_KEY and LANGFUSE_SECRET_KEY to send traces). Traces are kept locally for ${config.traces.retentionDays} days (TRACE_RETENTION_DAYS); nothing is shipped.`);
  lines.push(`trace viewer: ${base}/ui (journal in ${config.dataDir})`);
  if (!config.traces.captureContent) lines.push('TRACE_CONTENT=false: message content is kept out of traces');
  if (config.traces.sampleRate < 1) lines.push(`TRACE_SAMPLE_RATE=${config.traces.sampleRate}: only that fraction of calls is traced`);
  // Values this short are not scrubbed from traces and answers (they would match ordinary text), and are easy to guess.
  if (!config.apiKeyGenerated && config.apiKeys.some((key) => key.length < minSecretLength)) {
    lines.push(`WARNING: an API_KEY is shorter than ${minSecretLength} characters: it is easy to guess, and a prompt that quotes it reaches traces unredacted. Use a long random key.`);
  }
  return lines;
}
