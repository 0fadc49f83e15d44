// Sends one batch of journal rows to Langfuse and records the outcome in the journal. When Langfuse
// refuses a batch (a 4xx other than auth), it bisects to find the rows it refuses: only those are
// marked rejected (kept, retried after a restart), the rest are delivered.
import type { Journal, PendingRow } from './journal.ts';
import type { ExportResult, LangfuseExporter } from './langfuse-exporter.ts';
import { otlpEnvelopeBytes, otlpSpanJson } from './langfuse-spans.ts';
import type { SpanOptions } from './langfuse-spans.ts';

export type BatchOutcome =
  | { kind: 'ok'; delivered: number; rejected: number }
  | { kind: 'retry'; reason: string; retryAfterMs?: number; suspect?: boolean; delivered: number; rejected: number }
  | { kind: 'unauthorized'; status: number; reason: string; delivered: number; rejected: number };

export interface DeliverBatchDeps {
  journal: Pick<Journal, 'markDelivered' | 'markFailed' | 'markRejected'>;
  exporter: Pick<LangfuseExporter, 'send'>;
  spanOptions: SpanOptions;
  /** Told about each refused row (with the answer), so the caller can log once per kind. */
  onRejected: (result: { status: number; reason: string }, rows: number) => void;
  /**
   * Rows whose outcome the journal could not record (a full disk): delivered (Langfuse took them) or rejected (it
   * refused them). They count as such, and the caller must neither send them again nor forget to record it.
   */
  onUnmarked: (seqs: number[], outcome: { kind: 'delivered' } | { kind: 'rejected'; reason: string }, error: unknown) => void;
}

interface Item {
  seq: number;
  /** The span as OTLP/JSON bytes, written once per batch attempt (a bisected half reuses it). */
  span: Buffer;
}

export function createBatchDelivery(deps: DeliverBatchDeps) {
  const { journal, exporter, spanOptions } = deps;

  // The journal records each outcome; when it cannot (a full disk), delivery goes on all the same.
  function deliver(seqs: number[]) {
    try {
      journal.markDelivered(seqs);
    } catch (error) {
      deps.onUnmarked(seqs, { kind: 'delivered' }, error);
    }
  }
  function reject(seqs: number[], reason: string) {
    try {
      journal.markRejected(seqs, reason);
    } catch (error) {
      deps.onUnmarked(seqs, { kind: 'rejected', reason }, error);
    }
  }
  function fail(seqs: number[], reason: string) {
    try {
      journal.markFailed(seqs, reason);
    } catch {
      // Only the attempt count and last error of pending rows: they are tried again anyway.
    }
  }

  return async function deliverBatch(rows: PendingRow[], signal: AbortSignal): Promise<BatchOutcome> {
    const items: Item[] = [];
    let rejected = 0;
    for (const row of rows) {
      try {
        const span = row.span ?? (row.call && Buffer.from(otlpSpanJson(row.call, spanOptions)));
        if (span === undefined) throw new Error('no record');
        items.push({ seq: row.seq, span });
      } catch (error) {
        const reason = `record could not be mapped to a span: ${String(error)}`;
        reject([row.seq], reason);
        deps.onRejected({ status: 0, reason }, 1);
        rejected += 1;
      }
    }
    let delivered = 0;

    async function send(part: Item[]): Promise<Exclude<ExportResult, { kind: 'rejected' }> | { kind: 'unauthorized'; status: number; reason: string }> {
      if (part.length === 0) return { kind: 'ok' };
      const seqs = part.map((item) => item.seq);
      const result = await exporter.send(otlpEnvelopeBytes(part.map((item) => item.span), spanOptions), { signal });
      if (result.kind === 'ok') {
        deliver(seqs);
        delivered += part.length;
        return result;
      }
      if (result.kind === 'retry') {
        fail(seqs, result.reason);
        return result;
      }
      if (result.status === 401 || result.status === 403) {
        return { kind: 'unauthorized', status: result.status, reason: result.reason };
      }
      if (part.length === 1) {
        reject(seqs, result.reason);
        deps.onRejected(result, 1);
        rejected += 1;
        return { kind: 'ok' };
      }
      const middle = Math.ceil(part.length / 2);
      const first = await send(part.slice(0, middle));
      if (first.kind !== 'ok') return first;
      return send(part.slice(middle));
    }

    const result = await send(items);
    return { ...result, delivered, rejected };
  };
}
