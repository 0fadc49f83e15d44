// A read connection to the journal for the request thread (the viewer's list and detail). The trace
// worker writes; WAL lets this connection read at the same time without blocking it.
import { openJournalDatabase } from './journal-database.ts';
import { createJournalViews } from './journal-views.ts';
import type { CallDetail, CallSummary, ListQuery } from './journal-views.ts';

export interface JournalReader {
  list(query: ListQuery): { items: CallSummary[]; nextBefore?: number };
  get(id: string): CallDetail | undefined;
  /** One call for the viewer's API as JSON bytes: the stored record and its delivery state. */
  getJson(id: string): Buffer | undefined;
  close(): void;
}

export function openJournalReader(dataDir: string): JournalReader {
  // Opening it here also creates the file and schema, before the worker starts.
  const db = openJournalDatabase(dataDir);
  const views = createJournalViews(db);
  return { list: views.list, get: views.get, getJson: views.getJson, close: () => db.close() };
}
