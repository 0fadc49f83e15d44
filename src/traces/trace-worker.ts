// The trace worker: a thread of its own that owns the SQLite journal and the Langfuse shipper, so that
// journal writes, checkpoints, span building and delivery never run on the request thread.
// Messages: see trace-messages.ts. Records arrive as the spool's JSON lines.
import { readlinkSync } from 'node:fs';
import { setPriority } from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';
import type { LlmCall } from '../calls/llm-call.ts';
import { createTraceBackend } from './trace-backend.ts';
import type { Logger } from './logger.ts';
import { readSpool, readSpoolLines, removeSpoolFile } from './trace-spool.ts';
import { createKeptSpoolFiles } from './kept-spool-files.ts';
import type { ToWorker, WorkerSettings } from './trace-messages.ts';
import { postToMain } from './trace-messages.ts';

const settings = workerData as WorkerSettings;
const port = parentPort!;

const log = (level: 'info' | 'warn' | 'error' | 'debug') => (object: Record<string, unknown>, message: string) => {
  const err = object.err instanceof Error ? { message: object.err.message, stack: object.err.stack } : object.err;
  postToMain(port, { type: 'log', level, object: err === undefined ? object : { ...object, err }, message });
};
const logger: Logger = { info: log('info'), warn: log('warn'), error: log('error'), debug: log('debug') };

/**
 * Lowers this thread's CPU priority (Linux: a thread id is a pid to setpriority). On a saturated machine
 * the request thread then gets the CPU first and trace work waits, durable in the spool, for a spare
 * moment; on an idle one nothing changes. Elsewhere, or where it is refused, the worker runs as it is.
 */
function yieldCpuToRequests(niceness: number) {
  if (niceness <= 0 || process.platform !== 'linux') return;
  try {
    const threadId = Number(readlinkSync('/proc/thread-self').split('/').pop());
    if (Number.isInteger(threadId) && threadId > 0) setPriority(threadId, niceness);
  } catch (error) {
    logger.debug({ err: error }, 'trace worker runs at normal CPU priority');
  }
}
yieldCpuToRequests(settings.niceness);

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

/** `work` joins what `last` waits for. */
function track(work: Promise<unknown>): void {
  last = Promise.all([last, work]).then(() => undefined);
}

/**
 * Spool files of this run, by generation: the records posted between two seals belong to one file. A file goes only
 * once all its records are in the journal; one whose records the journal could not store (a full disk) stays, and
 * its records are read again at the next start (those already stored are skipped).
 */
let generation = 0;
const failedGenerations = new Set<number>();
/** This run's own files read back at start-up (a worker that died) whose records the journal could not all store. */
const failedFiles = new Set<string>();

/**
 * Appends spool lines; resolves true when every one is in the journal. `counted`: lines the main thread handed over
 * (in a message, or left in a spool file it sealed), which it counts as in flight until `committed` covers them;
 * not lines of a previous run. `of`: the generation of this run's spool file they come from.
 */
function append(lines: string[], counted: boolean, of?: number): Promise<boolean> {
  const writes: Promise<boolean>[] = [];
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
  const done = Promise.all(writes).then((stored) => {
    committed += counted ? lines.length : 0;
    stateChanged();
    const all = stored.every(Boolean);
    if (!all && of !== undefined) failedGenerations.add(of);
    return all;
  });
  track(done);
  return done;
}

/** Sealed files whose records the journal could not all store: read again once it can (and at the next start). */
const keptFiles = createKeptSpoolFiles({ append: (lines) => append(lines, false), writable: () => backend.journal.writable(), logger });

function keepOrRemove(file: string, journaled: boolean): void {
  if (journaled) {
    removeSpoolFile(file);
    return;
  }
  logger.warn({ file }, 'spool file kept: some trace records could not be written to the journal; they are read again once it can write (or at the next start)');
  keptFiles.keep(file);
}

/**
 * The current spool file is sealed (its posted lines were released just before): read back the lines the main
 * thread never posted, then the file goes if every record of its generation is in the journal.
 */
function replaySealed(file: string, replayFrom: number | undefined): Promise<void> {
  const sealedGeneration = generation;
  generation += 1;
  const replayed = replayFrom === undefined ? Promise.resolve(true) : append(readSpoolLines(file).slice(replayFrom), true, sealedGeneration);
  return Promise.all([last, replayed]).then(() => {
    keepOrRemove(file, !failedGenerations.has(sealedGeneration) && !failedFiles.has(file));
    failedGenerations.delete(sealedGeneration);
    failedFiles.delete(file);
  });
}

// Records of a previous run (or of a worker that died) that may not have reached the journal. Only earlier runs'
// files go once journaled (another process id, or the same one before this run began: a container's): this run's
// own (a worker that died) are still written to or will be sealed, and a leftover is read again at the next start.
const ownFile = (file: string) => {
  const [, createdAt, pid] = /(\d+)-(\d+)-\d+\.jsonl$/.exec(file) ?? [];
  return Number(pid) === process.pid && Number(createdAt) >= settings.spoolSince;
};
for (const { file, lines } of readSpool(settings.dataDir)) {
  if (lines.length > 0) logger.info({ file, records: lines.length }, 'moving spooled trace records into the journal');
  void append(lines, false).then((journaled) => {
    if (!ownFile(file)) keepOrRemove(file, journaled);
    else if (!journaled) failedFiles.add(file); // kept when it is sealed
  });
}

// While the request thread is busy (a burst), records wait here, parsed and journaled a moment later:
// the CPU goes to the requests first. They are safe in the spool meanwhile, and counted in the backlog.
// The wait is bounded in time (2 s) and in records (2,000), so under sustained load the worker still keeps up.
const requestLoad = new Int32Array(settings.requestLoad);
const busyAbove = 700; // thousandths of the request thread's time
const maxHoldMs = 2000;
const maxHeld = 2_000;
let held: string[] = [];
let heldSince = 0;
let holdTimer: NodeJS.Timeout | undefined;

function releaseHeld() {
  if (holdTimer) clearTimeout(holdTimer);
  holdTimer = undefined;
  const lines = held;
  held = [];
  if (lines.length > 0) void appendInSlices(lines);
}

/** A released backlog goes in 500 at a time, each slice once the one before is committed: never all parsed at once. */
function appendInSlices(lines: string[]): Promise<void> {
  // Held lines were all posted since the last seal (a seal releases them first): the current file's generation.
  const of = generation;
  const done = (async () => {
    for (let start = 0; start < lines.length; start += 500) await append(lines.slice(start, start + 500), true, of);
  })();
  track(done);
  return done;
}

function holdOrAppend(lines: string[]) {
  if (held.length === 0) heldSince = Date.now();
  for (const line of lines) held.push(line);
  checkHeld();
}

function checkHeld() {
  if (held.length === 0) return;
  if (Atomics.load(requestLoad, 0) < busyAbove || held.length >= maxHeld || Date.now() - heldSince >= maxHoldMs) {
    releaseHeld();
    return;
  }
  holdTimer ??= setTimeout(() => {
    holdTimer = undefined;
    checkHeld();
  }, 50);
}

// Shipping progress changes the state too (backlog, last error): refresh it while anything is pending.
const poll = setInterval(stateChanged, 500);
poll.unref();

port.on('message', (message: ToWorker) => {
  if (message.type === 'records') {
    holdOrAppend(message.lines);
  } else if (message.type === 'sealed') {
    // The file's posted lines must be in the journal before it goes.
    releaseHeld();
    void replaySealed(message.file, message.replayFrom);
  } else if (message.type === 'close') {
    clearInterval(poll);
    keptFiles.stop();
    releaseHeld();
    void (async () => {
      if (message.sealed) await replaySealed(message.sealed, message.replayFrom);
      await last;
      await backend.close(message.flushTimeoutMs);
      if (stateTimer) clearTimeout(stateTimer);
      postToMain(port, { type: 'closed' });
    })();
  }
});
sendState();
