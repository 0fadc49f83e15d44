// The trace worker: a thread of its own that owns the SQLite journal and the Langfuse shipper, so that
// journal writes, checkpoints, span building and delivery never run on the request thread.
// Messages: see trace-messages.ts. Records arrive as the spool's JSON lines.
import { parentPort, workerData } from 'node:worker_threads';
import type { LlmCall } from '../calls/llm-call.ts';
import { createTraceBackend } from './trace-backend.ts';
import type { Logger } from './logger.ts';
import { readSpool, removeSpoolFile } from './trace-spool.ts';
import type { ToWorker, WorkerSettings } from './trace-messages.ts';
import { postToMain } from './trace-messages.ts';

const settings = workerData as WorkerSettings;
const port = parentPort!;

const log = (level: 'info' | 'warn' | 'error' | 'debug') => (object: Record<string, unknown>, message: string) => {
  const err = object.err instanceof Error ? { message: object.err.message, stack: object.err.stack } : object.err;
  postToMain(port, { type: 'log', level, object: err === undefined ? object : { ...object, err }, message });
};
const logger: Logger = { info: log('info'), warn: log('warn'), error: log('error'), debug: log('debug') };

// Commits gather for 20 ms: the spool already made every call durable, so this costs no safety.
const backend = createTraceBackend({ commitDelayMs: 20, ...settings, logger });
let committed = 0;
let last: Promise<void> = Promise.resolve();
let stateTimer: NodeJS.Timeout | undefined;

function sendState() {
  stateTimer = undefined;
  postToMain(port, { type: 'state', state: backend.state(), committed, at: Date.now() });
}
/** State goes to the main thread at most every 25 ms, and soon after anything changed. */
function stateChanged() {
  stateTimer ??= setTimeout(sendState, 25);
}

/** Appends spool lines; `replay` marks lines read back from spool files rather than sent by the main thread. */
function append(lines: string[], replay: boolean): Promise<void> {
  const writes: Promise<void>[] = [];
  for (const json of lines) {
    let call: LlmCall;
    try {
      call = JSON.parse(json) as LlmCall;
    } catch {
      continue; // a line cut short by a crash: its call never completed for the client
    }
    // A call can arrive twice (read back from the spool and sent as a message): the first one wins.
    writes.push(backend.record(call, { json, ifAbsent: true }));
  }
  last = Promise.all(writes).then(() => {
    committed += replay ? 0 : lines.length;
    stateChanged();
  });
  return last;
}

// Records of a previous run (or of a worker that died) that may not have reached the journal.
for (const { file, lines } of readSpool(settings.dataDir)) {
  if (lines.length > 0) logger.info({ file, records: lines.length }, 'moving spooled trace records into the journal');
  void append(lines, true).then(() => { if (file !== settings.currentSpoolFile) removeSpoolFile(file); });
}

// Shipping progress changes the state too (backlog, last error): refresh it while anything is pending.
const poll = setInterval(stateChanged, 500);
poll.unref();

port.on('message', (message: ToWorker) => {
  if (message.type === 'records') {
    void append(message.lines, false);
  } else if (message.type === 'sealed') {
    const file = message.file;
    void last.then(() => removeSpoolFile(file));
  } else if (message.type === 'close') {
    clearInterval(poll);
    void (async () => {
      await last;
      if (message.sealed) removeSpoolFile(message.sealed);
      await backend.close(message.flushTimeoutMs);
      if (stateTimer) clearTimeout(stateTimer);
      postToMain(port, { type: 'closed' });
    })();
  }
});
sendState();
