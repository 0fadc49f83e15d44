// The messages between the request thread and the trace worker, typed in one place.
import type { MessagePort } from 'node:worker_threads';
import type { TraceBackendSettings, DeliveryState } from './trace-backend.ts';

/** What the worker needs to build the backend; the logger stays on the main thread (logs are forwarded). */
export type WorkerSettings = Omit<TraceBackendSettings, 'logger' | 'now'> & {
  /** This run's spool files: named with this process id and a creation time at or after this (epoch ms). */
  spoolSince: number;
  /** Nice value the worker gives its own thread (Linux): trace work yields the CPU to requests. 0: none. */
  niceness: number;
  /** One Int32: the request thread's event-loop utilisation over the last 100 ms, in thousandths. */
  requestLoad: SharedArrayBuffer;
};

export type ToWorker =
  | { type: 'records'; lines: string[] }
  /**
   * The main thread is done with `file`. Its lines from `replayFrom` on were never posted (the worker was
   * too far behind): the worker reads them from the file before removing it.
   */
  | { type: 'sealed'; file: string; replayFrom?: number }
  | { type: 'close'; flushTimeoutMs: number; sealed?: string; replayFrom?: number };

export type ToMain =
  | { type: 'state'; state: DeliveryState; committed: number; at: number }
  | { type: 'log'; level: 'info' | 'warn' | 'error' | 'debug'; object: Record<string, unknown>; message: string }
  | { type: 'closed' };

export function postToMain(port: MessagePort, message: ToMain): void {
  port.postMessage(message);
}
