// The trace backend, where it is chosen: always the local journal; with Langfuse keys, also the
// exporter and the background shipper. Without keys, rows stay local and nothing ships.
// It runs inside the trace worker (trace-worker.ts), off the request thread.
import type { LlmCall } from '../calls/llm-call.ts';
import { createJournal } from './journal.ts';
import type { AppendOptions, Journal, JournalOptions } from './journal.ts';
import { createLangfuseExporter } from './langfuse-exporter.ts';
import { otlpEnvelopeBytes, otlpSpanJson } from './langfuse-spans.ts';
import type { Logger } from './logger.ts';
import { createTraceShipper } from './trace-shipper.ts';
import type { ShipperState, TraceShipper, TraceShipperOptions } from './trace-shipper.ts';

export interface TraceBackendSettings {
  dataDir: string;
  retentionDays: number;
  maxBytes: number;
  langfuse?: { host: string; publicKey: string; secretKey: string };
  environment?: string;
  release?: string;
  serviceVersion: string;
  logger: Logger;
  /** Langfuse request time-out. */
  exportTimeoutMs?: number;
  /** Shipper tuning, for tests and benchmarks. */
  shipper?: Pick<TraceShipperOptions, 'batchSize' | 'maxBatchBytes' | 'idleDelayMs' | 'notifyDelayMs' | 'backoff'>;
  now?: () => number;
  /** See JournalOptions.commitDelayMs. */
  commitDelayMs?: number;
  /** For tests: how the journal's database is opened, and its rewrite delay (see JournalOptions). */
  journal?: Pick<JournalOptions, 'openDatabase' | 'rewriteDelayMs'>;
}

export type DeliveryState =
  | ({ mode: 'langfuse' } & ShipperState)
  | { mode: 'local'; stored: number; dropped: number; writeErrors: number };

export interface TraceBackend {
  journal: Journal;
  shipper?: TraceShipper;
  /** Journals the call and wakes the shipper: resolves once committed (true) or not stored (false); never rejects. */
  record(call: LlmCall, options?: AppendOptions): Promise<boolean>;
  state(): DeliveryState;
  /** Flushes to Langfuse for at most `flushTimeoutMs`, then closes; the rest ships after the next start. */
  close(flushTimeoutMs: number): Promise<void>;
}

/** Batches of held records sent at shutdown stay under what the shipper sends (1 MB). */
const heldBatchBytes = 1024 * 1024;

export function createTraceBackend(settings: TraceBackendSettings): TraceBackend {
  const { logger, langfuse } = settings;
  const journal = createJournal({
    dataDir: settings.dataDir,
    retentionDays: settings.retentionDays,
    maxBytes: settings.maxBytes,
    shipping: langfuse !== undefined,
    logger,
    now: settings.now,
    commitDelayMs: settings.commitDelayMs,
    ...settings.journal,
  });
  if (!langfuse) {
    return {
      journal,
      record: (call, options) => journal.append(call, options),
      state() {
        const stats = journal.stats();
        return { mode: 'local', stored: stats.total, dropped: stats.dropped, writeErrors: stats.writeErrors };
      },
      async close() {
        journal.close();
      },
    };
  }

  // A restart is when refused rows get another chance (fixed keys, fixed server).
  const retried = journal.resetRejected();
  if (retried > 0) logger.info({ rows: retried }, 'retrying trace records Langfuse refused before the restart');
  const spanOptions = {
    environment: settings.environment,
    release: settings.release,
    serviceName: 'llm-trace-gateway',
    serviceVersion: settings.serviceVersion,
  };
  const exporter = createLangfuseExporter({ ...langfuse, timeoutMs: settings.exportTimeoutMs ?? 15_000 });
  const shipper = createTraceShipper({
    ...settings.shipper,
    journal,
    exporter,
    logger,
    now: settings.now,
    spanOptions,
  });
  shipper.start();

  /**
   * Records the journal could not store (a full disk) live only in memory, and those whose spool write failed too
   * would end with the process: in the flush's time left, they go to Langfuse directly (one sent again after the next
   * start, from its spool file, updates the same span).
   */
  async function sendHeld(timeLeftMs: number): Promise<void> {
    if (timeLeftMs <= 0) return;
    const sent = new Set<Buffer>();
    let spans: Buffer[] = [];
    try {
      // After one more try to store them: a disk with room again keeps them in the journal, and the viewer.
      journal.retryHeld();
      spans = journal.heldSpans();
      if (spans.length === 0) return;
      const signal = AbortSignal.timeout(timeLeftMs);
      for (let next = 0; next < spans.length && !signal.aborted;) {
        const batch: Buffer[] = [];
        for (let bytes = 0; next < spans.length && (batch.length === 0 || bytes + (spans[next] as Buffer).length <= heldBatchBytes); next += 1) {
          batch.push(spans[next] as Buffer);
          bytes += (spans[next] as Buffer).length;
        }
        const result = await exporter.send(otlpEnvelopeBytes(batch, spanOptions), { signal });
        if (result.kind === 'ok') for (const span of batch) sent.add(span);
        // Unreachable, failing or refusing the keys: the rest would fare no better. A refused batch: the next may pass.
        else if (result.kind !== 'rejected') break;
      }
    } catch (error) {
      logger.error({ err: error }, 'sending held trace records at shutdown failed');
    }
    if (spans.length === 0) return;
    journal.forgetHeld(sent);
    logger.warn({ sent: sent.size, held: spans.length }, 'trace records the journal could not store (a full disk?) sent to Langfuse directly at shutdown');
  }

  return {
    journal,
    shipper,
    async record(call, options) {
      // The span is written now, while the call is at hand; the shipper then keeps only this text.
      let span: Buffer | undefined;
      try {
        span = Buffer.from(otlpSpanJson(call, spanOptions));
      } catch {
        // The shipper maps the record again when it sends it, and reports the failure then.
      }
      const stored = await journal.append(call, span === undefined ? options : { ...options, span });
      shipper.notify();
      return stored;
    },
    state: () => ({ mode: 'langfuse', ...shipper.state() }),
    async close(flushTimeoutMs) {
      const deadline = Date.now() + flushTimeoutMs;
      const { remaining } = await shipper.flush(flushTimeoutMs);
      if (remaining === undefined || remaining > 0) logger.info({ remaining }, 'trace records left in the journal; they are sent after the next start');
      await sendHeld(deadline - Date.now());
      await exporter.close();
      journal.close();
    },
  };
}
