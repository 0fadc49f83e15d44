// The messages between the request thread and the trace worker, typed in one place.
import type { MessagePort } from 'node:worker_threads';
import type { TraceBackendSettings, DeliveryState } from './trace-backend.ts';

/** What the worker needs to build the backend; the logger stays on the main thread (logs are forwarded). */
export type WorkerSettings = Omit<TraceBackendSettings, 'logger' | 'now'> & { currentSpoolFile: string };

export type ToWorker =
  | { type: 'records'; lines: string[] }
  | { type: 'sealed'; file: string }
  | { type: 'close'; flushTimeoutMs: number; sealed?: string };

export type ToMain =
  | { type: 'state'; state: DeliveryState; committed: number; at: number }
  | { type: 'log'; level: 'info' | 'warn' | 'error' | 'debug'; object: Record<string, unknown>; message: string }
  | { type: 'closed' };

export function postToMain(port: MessagePort, message: ToMain): void {
  port.postMessage(message);
}
