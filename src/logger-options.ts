// The pino options of the gateway's log, which must never print a configured secret (redact.ts).
import type { LoggerOptions } from 'pino';
import type { Config } from './config.ts';
import { jsonSecrets, redacted, redactJson } from './redact.ts';

export function loggerOptions(config: Config, secrets: string[]): LoggerOptions {
  const inJson = jsonSecrets(secrets);
  return {
    level: config.logLevel,
    // Secrets are never logged on purpose; this is the net under that rule for anything logged by accident.
    redact: { paths: ['req.headers.authorization', 'req.headers["x-api-key"]', 'headers.authorization', 'headers["x-api-key"]'], censor: redacted },
    hooks: {
      streamWrite: (line) => redactJson(line, inJson),
    },
    ...(config.prettyLogs && { transport: { target: 'pino-pretty', options: { translateTime: 'HH:MM:ss.l', ignore: 'pid,hostname,reqId' } } }),
  };
}
