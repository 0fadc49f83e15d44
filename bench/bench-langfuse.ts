// A lean fake Langfuse for load: checks the Basic key, answers, and keeps the body; unzipping and counting
// the distinct trace ids waits until run.ts asks for the counts (over IPC, once the load is over). Langfuse
// runs on another machine in production: this one shares the CPU with what is measured, and only the traced
// gateway's rounds make it work, so its work is done where it cannot slow them. Every Nth batch (1 in 10 by
// default) is parsed and run through the strict validator of the test fake; a payload found invalid is
// counted (`rejected`, with the reason) and fails the long run's check, though it was answered 200.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';
import { parseTraceExport } from '../test/fakes/fake-langfuse.ts';

export const BENCH_LANGFUSE_KEYS = { publicKey: 'pk-lf-bench', secretKey: 'sk-lf-bench' };
const TRACES_PATH = '/api/public/otel/v1/traces';

export interface LangfuseCounts {
  requests: number;
  accepted: number;
  rejected: number;
  spans: number;
  traces: number;
  validated: number;
  lastRejection?: string;
}

export type LangfuseCommand =
  | { type: 'counts'; id: number }
  | { type: 'reset'; id: number }
  | { type: 'missing'; id: number; traceIds: string[] };

type Spans = { resourceSpans?: Array<{ scopeSpans?: Array<{ spans?: Array<{ traceId?: unknown }> }> }> };

export function startBenchLangfuse(options: { port?: number; validateEvery?: number } = {}) {
  const expected = `Basic ${Buffer.from(`${BENCH_LANGFUSE_KEYS.publicKey}:${BENCH_LANGFUSE_KEYS.secretKey}`).toString('base64')}`;
  const validateEvery = options.validateEvery ?? 10;
  let traceIds = new Set<string>();
  let counts: LangfuseCounts = { requests: 0, accepted: 0, rejected: 0, spans: 0, traces: 0, validated: 0 };
  // Bodies answered but not read yet; read at once past this many bytes, so memory stays bounded.
  let unread: Array<{ encoding: string | undefined; raw: Buffer }> = [];
  let unreadBytes = 0;
  const maxUnreadBytes = 256 * 1024 * 1024; // far more than a default run sends (about 30 MB for 200,000 calls)
  let read = 0;

  function readAll() {
    const bodies = unread;
    unread = [];
    unreadBytes = 0;
    for (const { encoding, raw } of bodies) {
      let problem: string | undefined;
      try {
        problem = ingest(encoding, raw, read % validateEvery === 0);
      } catch (error) {
        problem = error instanceof Error ? error.message : String(error);
      }
      read += 1;
      if (problem !== undefined) {
        counts.rejected += 1;
        counts.lastRejection = problem.slice(0, 500);
      }
    }
  }

  function ingest(encoding: string | undefined, raw: Buffer, validate: boolean): string | undefined {
    const text = (encoding === 'gzip' ? gunzipSync(raw) : raw).toString('utf8');
    if (!validate) {
      // The other batches are only counted: a scan for the span ids' neighbours, not a parse (this fake
      // shares the machine with what is measured). An escaped "traceId" inside a string value cannot match.
      let spans = 0;
      for (const match of text.matchAll(/"traceId":"([^"]*)"/g)) {
        spans += 1;
        traceIds.add(match[1]!);
      }
      if (spans === 0) return 'no spans';
      counts.spans += spans;
      return undefined;
    }
    const body = JSON.parse(text) as Spans;
    parseTraceExport(body);
    counts.validated += 1;
    for (const resource of body.resourceSpans ?? []) {
      for (const scope of resource.scopeSpans ?? []) {
        for (const span of scope.spans ?? []) {
          if (typeof span.traceId !== 'string') return 'a span without traceId';
          counts.spans += 1;
          traceIds.add(span.traceId);
        }
      }
    }
    return undefined;
  }

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      counts.requests += 1;
      const problem = req.url?.split('?')[0] !== TRACES_PATH || req.method !== 'POST' ? `no route ${req.method ?? ''} ${req.url ?? ''}`
        : req.headers.authorization !== expected ? 'bad credentials' : undefined;
      if (problem === undefined) {
        counts.accepted += 1;
        const raw = Buffer.concat(chunks);
        unread.push({ encoding: req.headers['content-encoding'], raw });
        unreadBytes += raw.length;
        if (unreadBytes > maxUnreadBytes) readAll();
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
        return;
      }
      counts.rejected += 1;
      counts.lastRejection = problem.slice(0, 500);
      res.writeHead(400, { 'content-type': 'application/json' }).end(JSON.stringify({ message: problem }));
    });
  });

  function handle(command: LangfuseCommand): unknown {
    switch (command.type) {
      case 'counts':
        readAll();
        return { ...counts, traces: traceIds.size };
      case 'reset':
        unread = [];
        unreadBytes = 0;
        read = 0;
        traceIds = new Set();
        counts = { requests: 0, accepted: 0, rejected: 0, spans: 0, traces: 0, validated: 0 };
        return { ok: true };
      case 'missing':
        readAll();
        return { missing: command.traceIds.filter((id) => !traceIds.has(id)).length };
    }
  }

  const listening = new Promise<number>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port));
  });
  return { listening, handle };
}

if (import.meta.main) {
  const langfuse = startBenchLangfuse({ validateEvery: Number(process.env.VALIDATE_EVERY ?? 10) });
  const port = await langfuse.listening;
  process.on('message', (command: LangfuseCommand) => process.send?.({ type: 'reply', id: command.id, value: langfuse.handle(command) }));
  process.send?.({ type: 'ready', port });
  process.on('disconnect', () => process.exit(0));
}
