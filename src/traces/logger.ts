// The slice of a pino-compatible logger the trace pipeline uses, so tests can pass a recorder.

export type LogMethod = (object: Record<string, unknown>, message: string) => void;

export interface Logger {
  info: LogMethod;
  warn: LogMethod;
  error: LogMethod;
  debug: LogMethod;
}
