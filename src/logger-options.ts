// The pino options of the gateway's log, and the configured secrets it must never print.
import type { LoggerOptions } from 'pino';
import type { Config } from './config.ts';

/** Every configured secret long enough to search for (a generated key is shown once on purpose). */
export function configuredSecrets(config: Config): string[] {
  return [...(config.apiKeyGenerated ? [] : config.apiKeys), config.openrouter.apiKey, config.langfuse?.publicKey, config.langfuse?.secretKey]
    .filter((value): value is string => typeof value === 'string' && value.length >= 8);
}

export function loggerOptions(config: Config, secrets: string[]): LoggerOptions {
  return {
    level: config.logLevel,
    // Secrets are never logged on purpose; this is the net under that rule for anything logged by accident.
    redact: { paths: ['req.headers.authorization', 'req.headers["x-api-key"]', 'headers.authorization', 'headers["x-api-key"]'], censor: '[redacted]' },
    hooks: {
      streamWrite: (line) => secrets.reduce((text, secret) => text.split(secret).join('[redacted]'), line),
    },
    ...(config.prettyLogs && { transport: { target: 'pino-pretty', options: { translateTime: 'HH:MM:ss.l', ignore: 'pid,hostname,reqId' } } }),
  };
}
