// A lean fake Langfuse for load: checks the Basic key, unzips, and counts distinct trace ids. Every Nth
// batch (1 in 10 by default) is parsed and run through the strict validator of the test fake, so a
// malformed payload is caught without paying full validation on every request.
// Runs in its own process; run.ts asks it for counts over IPC.
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

  function ingest(authorization: string | undefined, encoding: string | undefined, raw: Buffer): string | undefined {
    if (authorization !== expected) return 'bad credentials';
    const text = (encoding === 'gzip' ? gunzipSync(raw) : raw).toString('utf8');
    if (counts.requests % validateEvery !== 0) {
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
      let problem: string | undefined;
      try {
        problem = req.url?.split('?')[0] === TRACES_PATH && req.method === 'POST'
          ? ingest(req.headers.authorization, req.headers['content-encoding'], Buffer.concat(chunks))
          : `no route ${req.method ?? ''} ${req.url ?? ''}`;
      } catch (error) {
        problem = error instanceof Error ? error.message : String(error);
      }
      if (problem === undefined) {
        counts.accepted += 1;
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
      case 'counts': return { ...counts, traces: traceIds.size };
      case 'reset':
        traceIds = new Set();
        counts = { requests: 0, accepted: 0, rejected: 0, spans: 0, traces: 0, validated: 0 };
        return { ok: true };
      case 'missing': return { missing: command.traceIds.filter((id) => !traceIds.has(id)).length };
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
