// Read-only queries for the local viewer: a filtered, newest-first page of call summaries, and one
// call with its delivery state.
import type { DatabaseSync, SQLInputValue } from 'node:sqlite';
import type { LlmCall, Outcome } from '../calls/llm-call.ts';
import type { Delivery } from './journal-database.ts';

export interface ListQuery {
  session?: string;
  user?: string;
  /** Matches the model used or the model requested. */
  model?: string;
  /** 'ok': outcome ok; 'error': level ERROR; a number: the HTTP status the client received. */
  status?: 'ok' | 'error' | number;
  /** Only calls older than this `seq` (the previous page's `nextBefore`). */
  before?: number;
  limit: number;
}

export interface CallSummary {
  seq: number;
  id: string;
  startedAt: number;
  endpoint: string;
  name: string;
  requestedModel?: string;
  model?: string;
  sessionId?: string;
  userId?: string;
  status: number;
  outcome: Outcome;
  level: string;
  latencyMs?: number;
  ttftMs?: number;
  inputTokens?: number;
  outputTokens?: number;
  totalTokens?: number;
  cost?: number;
  delivery: Delivery;
  attempts: number;
  lastError?: string;
}

export interface CallDetail {
  call: LlmCall;
  delivery: Delivery;
  attempts: number;
  lastError?: string;
  deliveredAt?: number;
}

type Row = Record<string, SQLInputValue>;

const text = (value: SQLInputValue | undefined) => (typeof value === 'string' ? value : undefined);
const num = (value: SQLInputValue | undefined) => (typeof value === 'number' ? value : undefined);

function toSummary(row: Row): CallSummary {
  return {
    seq: Number(row.seq),
    id: String(row.id),
    startedAt: Number(row.started_at),
    endpoint: String(row.endpoint),
    name: String(row.name),
    requestedModel: text(row.requested_model),
    model: text(row.model),
    sessionId: text(row.session_id),
    userId: text(row.user_id),
    status: Number(row.status),
    outcome: String(row.outcome) as Outcome,
    level: String(row.level),
    latencyMs: num(row.latency_ms),
    ttftMs: num(row.ttft_ms),
    inputTokens: num(row.input_tokens),
    outputTokens: num(row.output_tokens),
    totalTokens: num(row.total_tokens),
    cost: num(row.cost),
    delivery: String(row.delivery) as Delivery,
    attempts: Number(row.attempts),
    lastError: text(row.last_error),
  };
}

const summaryColumns = `seq, id, started_at, endpoint, name, requested_model, model, session_id, user_id,
  status, outcome, level, latency_ms, ttft_ms, input_tokens, output_tokens, total_tokens, cost,
  delivery, attempts, last_error`;

export function createJournalViews(db: DatabaseSync) {
  // The record as its UTF-8 bytes: the viewer's API sends them on as they are, never decoded into a string.
  const getById = db.prepare(`SELECT CAST(records.record AS BLOB) AS record, delivery, attempts, last_error, delivered_at
    FROM calls JOIN records ON records.seq = calls.seq WHERE calls.id = ?`);
  /** One call's stored record (UTF-8 bytes) and its delivery state. */
  const findById = (id: string): { record: Buffer; delivery: Omit<CallDetail, 'call'> } | undefined => {
    const row = getById.get(id) as Row | undefined;
    if (!row || !(row.record instanceof Uint8Array)) return undefined;
    return {
      record: Buffer.from(row.record.buffer, row.record.byteOffset, row.record.byteLength),
      delivery: { delivery: String(row.delivery) as Delivery, attempts: Number(row.attempts), lastError: text(row.last_error), deliveredAt: num(row.delivered_at) },
    };
  };

  return {
    list(query: ListQuery): { items: CallSummary[]; nextBefore?: number } {
      const where: string[] = [];
      const values: SQLInputValue[] = [];
      const add = (clause: string, ...params: SQLInputValue[]) => {
        where.push(clause);
        values.push(...params);
      };
      if (query.session !== undefined) add('session_id = ?', query.session);
      if (query.user !== undefined) add('user_id = ?', query.user);
      if (query.model !== undefined) add('(model = ? OR requested_model = ?)', query.model, query.model);
      if (query.status === 'ok') add(`outcome = 'ok'`);
      else if (query.status === 'error') add(`level = 'ERROR'`);
      else if (typeof query.status === 'number') add('status = ?', query.status);
      if (query.before !== undefined) add('seq < ?', query.before);
      const limit = Math.max(1, Math.min(1000, Math.floor(query.limit)));
      const sql = `SELECT ${summaryColumns} FROM calls ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
        ORDER BY seq DESC LIMIT ?`;
      const rows = db.prepare(sql).all(...values, limit + 1) as Row[];
      const items = rows.slice(0, limit).map(toSummary);
      const last = items.at(-1);
      return rows.length > limit && last ? { items, nextBefore: last.seq } : { items };
    },

    /**
     * The viewer's answer for one call, as JSON bytes: the stored record with its delivery state spliced in, so
     * that a large call (a long prompt) is neither decoded, parsed nor serialised again on the request thread.
     */
    getJson(id: string): Buffer | undefined {
      const found = findById(id);
      if (!found) return undefined;
      const close = found.record.lastIndexOf(0x7d); // the record object's closing brace
      // `{"id":…,"delivery":…}`: the record's fields, then the delivery state's (a record is never an empty object).
      return Buffer.concat([found.record.subarray(0, close), Buffer.from(`,${JSON.stringify(found.delivery).slice(1)}`)]);
    },

    get(id: string): CallDetail | undefined {
      const found = findById(id);
      return found && { call: JSON.parse(found.record.toString('utf8')) as LlmCall, ...found.delivery };
    },
  };
}
