// What start-up says: which integrations are configured, and for each missing one, how to fix it.
import type { Config } from './config.ts';
import { minSecretLength } from './redact.ts';

export interface ReportLine {
  /** `warn` for what is missing or wrong (shown at LOG_LEVEL=warn too), `info` for the rest. */
  level: 'info' | 'warn';
  line: string;
}

export function startupReport(config: Config, address: string): ReportLine[] {
  const base = address.replace('0.0.0.0', 'localhost').replace('[::]', 'localhost');
  const lines: ReportLine[] = [];
  const info = (line: string) => lines.push({ level: 'info', line });
  const warn = (line: string) => lines.push({ level: 'warn', line });
  info(`gateway listening on ${address} (OpenAI base URL: ${base}/v1)`);
  if (config.openrouter.apiKey) info(`OpenRouter: configured (${config.openrouter.baseUrl})`);
  else warn('OpenRouter: NOT configured. Set OPENROUTER_API_KEY (in the environment or .env) and restart; until then LLM calls answer 503.');
  if (config.langfuse) info(`Langfuse: traces are sent to ${config.langfuse.host}`);
  else if (config.langfuseProblem) warn(`Langfuse: NOT configured: ${config.langfuseProblem}. Traces are kept locally only.`);
  else info(`Langfuse: not configured (set LANGFUSE_PUBLIC_KEY and LANGFUSE_SECRET_KEY to send traces). Traces are kept locally for ${config.traces.retentionDays} days (TRACE_RETENTION_DAYS); nothing is shipped.`);
  info(`trace viewer: ${base}/ui (journal in ${config.dataDir})`);
  if (!config.traces.captureContent) info('TRACE_CONTENT=false: message content is kept out of traces');
  if (config.traces.sampleRate < 1) info(`TRACE_SAMPLE_RATE=${config.traces.sampleRate}: only that fraction of calls is traced`);
  // Values this short are not scrubbed from traces and answers (they would match ordinary text), and are easy to guess.
  if (!config.apiKeyGenerated && config.apiKeys.some((key) => key.length < minSecretLength)) {
    warn(`WARNING: an API_KEY is shorter than ${minSecretLength} characters: it is easy to guess, and a prompt that quotes it reaches traces unredacted. Use a long random key.`);
  }
  return lines;
}
