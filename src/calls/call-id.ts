// Call ids: 32 lowercase hex digits (a valid OTLP trace id, the Langfuse trace id), time-ordered like a
// UUIDv7: 12 digits of epoch milliseconds, then 20 random ones (from a v4 UUID: randomUUID draws from a
// cached pool). Ids that grow with time land at the end of the journal's unique index instead of at a
// random page: inserts cost a third less (bench/RESULTS.md).
import { randomUUID } from 'node:crypto';

export function newCallId(now = Date.now()): string {
  return Math.floor(now).toString(16).padStart(12, '0').slice(-12) + randomUUID().replaceAll('-', '').slice(12);
}
