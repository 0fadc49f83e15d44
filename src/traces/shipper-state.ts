// What /health shows about trace delivery: the journal's backlog plus the shipper's own counters.
import type { JournalStats } from './journal.ts';

/**
 * `rejected`: only a probe is sent (every record of a batch refused, or the keys) until one is taken; `partly_refused`: rows flow,
 * but Langfuse refused some (set aside until a restart); `idle`: nothing waiting.
 */
export type ShipperStatus = 'ok' | 'retrying' | 'rejected' | 'partly_refused' | 'idle';

export interface ShipperState {
  /** Undelivered rows (pending plus rejected). */
  backlog: number;
  oldestUndeliveredAgeSeconds: number;
  lastError?: string;
  lastErrorAt?: string;
  lastDeliveredAt?: string;
  /** Rows delivered by this process. */
  delivered: number;
  /** Failed attempts that will be retried (this process). */
  retries: number;
  /** Rows Langfuse refused; retried after a restart. */
  rejected: number;
  /** Undelivered rows dropped to keep the journal under its size limit (ever). */
  dropped: number;
  /** Records that could not be written to the journal (this process). */
  writeErrors: number;
  status: ShipperStatus;
}

export interface ShipperRuntime {
  /** Only a probe goes out: one record every 30 s (every record of a batch refused), or a batch every few minutes (keys refused). */
  paused: boolean;
  failures: number;
  delivered: number;
  retries: number;
  lastError?: { message: string; at: number };
  lastDeliveredAt?: number;
}

export function shipperState(stats: JournalStats, runtime: ShipperRuntime, now: number): ShipperState {
  const pending = stats.backlog - stats.rejected;
  const age = stats.oldestUndeliveredAt === undefined ? 0 : Math.max(0, (now - stats.oldestUndeliveredAt) / 1000);
  const status: ShipperStatus = runtime.paused ? 'rejected' : runtime.failures > 0 ? 'retrying'
    : stats.rejected > 0 ? 'partly_refused' : pending === 0 ? 'idle' : 'ok';
  const { lastDeliveredAt } = runtime;
  // Langfuse's last failure, or the journal's if that came later (a full disk stops shipping as surely).
  const lastError = stats.lastWriteError && (!runtime.lastError || stats.lastWriteError.at > runtime.lastError.at) ? stats.lastWriteError : runtime.lastError;
  return {
    backlog: stats.backlog,
    oldestUndeliveredAgeSeconds: Math.round(age),
    ...(lastError ? { lastError: lastError.message, lastErrorAt: new Date(lastError.at).toISOString() } : {}),
    ...(lastDeliveredAt === undefined ? {} : { lastDeliveredAt: new Date(lastDeliveredAt).toISOString() }),
    delivered: runtime.delivered,
    retries: runtime.retries,
    rejected: stats.rejected,
    dropped: stats.dropped,
    writeErrors: stats.writeErrors,
    status,
  };
}
