// Opens the journal's SQLite file and owns its schema: one narrow row per call (the columns the
// viewer filters and sorts on, the delivery state the shipper keeps) and the record JSON beside it.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import type { LlmCall } from '../calls/llm-call.ts';

export type Delivery = 'pending' | 'delivered' | 'rejected' | 'local';

// The record JSON lives in its own table so that `calls` stays narrow: counting the backlog or
// scanning for the viewer then reads small pages, not every record's overflow pages.
const schema = `
CREATE TABLE IF NOT EXISTS calls (
  seq INTEGER PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,
  started_at REAL NOT NULL,
  endpoint TEXT NOT NULL,
  name TEXT NOT NULL,
  requested_model TEXT,
  model TEXT,
  session_id TEXT,
  user_id TEXT,
  status INTEGER NOT NULL,
  outcome TEXT NOT NULL,
  level TEXT NOT NULL,
  latency_ms REAL,
  ttft_ms REAL,
  input_tokens INTEGER,
  output_tokens INTEGER,
  total_tokens INTEGER,
  cost REAL,
  delivery TEXT NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  last_error TEXT,
  delivered_at REAL
);
CREATE TABLE IF NOT EXISTS records (seq INTEGER PRIMARY KEY, record TEXT NOT NULL);
CREATE TRIGGER IF NOT EXISTS calls_delete_record AFTER DELETE ON calls
  BEGIN DELETE FROM records WHERE seq = old.seq; END;
-- Few indexes on purpose: every one is written on every insert. The shipper's queue is a partial index
-- (rows leave it once delivered); session and user are the viewer's selective filters; the other
-- filters scan newest-first, which a page of 50 makes cheap.
DROP INDEX IF EXISTS calls_delivery;
DROP INDEX IF EXISTS calls_model;
DROP INDEX IF EXISTS calls_requested_model;
DROP INDEX IF EXISTS calls_level;
DROP INDEX IF EXISTS calls_status;
DROP INDEX IF EXISTS calls_session;
DROP INDEX IF EXISTS calls_user;
CREATE INDEX IF NOT EXISTS calls_delivery_started ON calls (delivery, started_at);
CREATE INDEX IF NOT EXISTS calls_session_id ON calls (session_id) WHERE session_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS calls_user_id ON calls (user_id) WHERE user_id IS NOT NULL;
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
`;

export function openJournalDatabase(dataDir: string, busyTimeoutMs = 2000): DatabaseSync {
  mkdirSync(dataDir, { recursive: true });
  // busy_timeout: kept short because node:sqlite waits synchronously, on the event loop.
  const db = new DatabaseSync(join(dataDir, 'journal.sqlite'), { timeout: busyTimeoutMs });
  // Must precede the first table so pruning can hand freed pages back to the file system.
  db.exec('PRAGMA auto_vacuum = INCREMENTAL');
  db.exec('PRAGMA journal_mode = WAL');
  // In WAL mode NORMAL syncs only at checkpoints: a COMMIT is in the OS page cache when it returns,
  // so a killed process (SIGKILL, OOM, crash) loses nothing; only a power loss or kernel panic could
  // lose the last commits. FULL would fsync on every commit, on the request path.
  db.exec('PRAGMA synchronous = NORMAL');
  // Checkpoints (the only fsyncs) every ~16 MB of WAL instead of 4 MB: hot index pages are copied back
  // once per checkpoint, so fewer checkpoints mean less work. The WAL file is trimmed back afterwards.
  db.exec('PRAGMA wal_autocheckpoint = 4000');
  db.exec('PRAGMA journal_size_limit = 67108864');
  db.exec(schema);
  return db;
}

export const upsertCallSql = `
INSERT INTO calls (id, started_at, endpoint, name, requested_model, model, session_id, user_id,
  status, outcome, level, latency_ms, ttft_ms, input_tokens, output_tokens, total_tokens, cost, delivery)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (id) DO UPDATE SET started_at = excluded.started_at,
  endpoint = excluded.endpoint, name = excluded.name, requested_model = excluded.requested_model,
  model = excluded.model, session_id = excluded.session_id, user_id = excluded.user_id,
  status = excluded.status, outcome = excluded.outcome, level = excluded.level,
  latency_ms = excluded.latency_ms, ttft_ms = excluded.ttft_ms, input_tokens = excluded.input_tokens,
  output_tokens = excluded.output_tokens, total_tokens = excluded.total_tokens, cost = excluded.cost,
  delivery = excluded.delivery, attempts = 0, last_error = NULL, delivered_at = NULL
RETURNING seq`;

export const insertCallIfAbsentSql = `
INSERT INTO calls (id, started_at, endpoint, name, requested_model, model, session_id, user_id,
  status, outcome, level, latency_ms, ttft_ms, input_tokens, output_tokens, total_tokens, cost, delivery)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (id) DO NOTHING
RETURNING seq`;

export const upsertRecordSql = 'INSERT OR REPLACE INTO records (seq, record) VALUES (?, ?)';

type Bindable = string | number | null;

const finite = (value: number | undefined): number | null =>
  value !== undefined && Number.isFinite(value) ? value : null;

/** The parameters of `upsertCallSql` and the record's JSON; throws if the record cannot be serialised. */
export function callRow(call: LlmCall, delivery: Delivery, json?: string): { columns: Bindable[]; record: string } {
  const record = json ?? JSON.stringify(call);
  const columns = [
    call.id,
    call.startTime,
    call.endpoint,
    call.name,
    call.requestedModel ?? null,
    call.model ?? null,
    call.sessionId ?? null,
    call.userId ?? null,
    call.status,
    call.outcome,
    call.level,
    finite(call.endTime - call.startTime),
    call.completionStartTime === undefined ? null : finite(call.completionStartTime - call.startTime),
    finite(call.usage?.input),
    finite(call.usage?.output),
    finite(call.usage?.total),
    finite(call.cost),
    delivery,
  ];
  return { columns, record };
}
