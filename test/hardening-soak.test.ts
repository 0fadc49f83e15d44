// A bounded soak of `node src/main.ts`: 20 clients mix answers, streams, aborts, upstream errors and mid-stream
// errors while Langfuse goes down (refused connections) and then answers 503. At the end every call the clients saw
// is in the fake Langfuse exactly once, and the gateway's own memory and open file handles have stayed flat: RSS and
// /proc/<pid>/fd from outside, and the heap in use after a full GC (main thread and trace worker) over the inspector.
// SOAK_SECONDS sets the load time (default 75, about 110 s in all; a longer run is a knob away).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startFakeOpenRouter } from './fakes/fake-openrouter.ts';
import type { FakeOpenRouter } from './fakes/fake-openrouter.ts';
import { startFakeLangfuse } from './fakes/fake-langfuse.ts';
import type { FakeLangfuse } from './fakes/fake-langfuse.ts';
import { startGatewayProcess } from './support/gateway-process.ts';
import type { GatewayProcess } from './support/gateway-process.ts';
import { post } from './support/http.ts';
import { readSse } from './support/sse-check.ts';
import { connectInspector } from './support/inspect-process.ts';
import type { Inspector } from './support/inspect-process.ts';

const soakSeconds = Number(process.env.SOAK_SECONDS ?? 75);
const concurrency = 20;
const KEY = 'gw-soak-key-0123456789';

/** Deterministic choices, so a failing run can be replayed. */
function random(seed: number) {
  let state = seed;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Kind { name: string; weight: number; model: string; stream: boolean; abortAfterChunks?: number }
const kinds: Kind[] = [
  { name: 'answer', weight: 28, model: 'openai/gpt-4o-mini', stream: false },
  { name: 'stream', weight: 28, model: 'openai/gpt-4o-mini', stream: true },
  { name: 'slow stream', weight: 6, model: 'fake/slow-stream:10:30', stream: true },
  { name: 'client abort', weight: 10, model: 'fake/slow-stream:30:50', stream: true, abortAfterChunks: 3 },
  { name: 'upstream 500', weight: 6, model: 'fake/status:500', stream: false },
  { name: 'upstream 429', weight: 4, model: 'fake/status:429', stream: true },
  { name: 'mid-stream error', weight: 8, model: 'fake/mid-stream-error', stream: true },
  { name: 'dropped stream', weight: 5, model: 'fake/drop:2', stream: true },
  { name: 'reset', weight: 5, model: 'fake/reset', stream: false },
];

function pick(next: () => number): Kind {
  let roll = next() * kinds.reduce((sum, kind) => sum + kind.weight, 0);
  for (const kind of kinds) if ((roll -= kind.weight) < 0) return kind;
  return kinds[0] as Kind;
}

interface Sample { at: number; rssMb: number; fds: number; heapMb?: number[]; rssAfterGcMb?: number }
function sample(pid: number, startedAt: number): Sample {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const rssKb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  return { at: Math.round((Date.now() - startedAt) / 1000), rssMb: Math.round(rssKb / 102.4) / 10, fds: readdirSync(`/proc/${pid}/fd`).length };
}

/** What each open file handle points at (sockets, pipes, files), to name the ones left over. */
function handles(pid: number): string[] {
  return readdirSync(`/proc/${pid}/fd`).map((fd) => {
    try { return readlinkSync(`/proc/${pid}/fd/${fd}`).replace(/\[\d+\]$/, ''); } catch { return 'gone'; }
  }).sort();
}

function leftOver(before: string[], after: string[]): string[] {
  const rest = [...before];
  return after.filter((target) => {
    const index = rest.indexOf(target);
    if (index === -1) return true;
    rest.splice(index, 1);
    return false;
  });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('soak', () => {
  let upstream: FakeOpenRouter;
  let langfuse: FakeLangfuse;
  let gateway: GatewayProcess;
  let dataDir: string;
  let inspector: Inspector | undefined;

  before(async () => {
    upstream = await startFakeOpenRouter();
    langfuse = await startFakeLangfuse();
    dataDir = mkdtempSync(join(tmpdir(), 'gw-soak-'));
    gateway = await startGatewayProcess({
      API_KEY: KEY, OPENROUTER_API_KEY: 'sk-or-soak', OPENROUTER_BASE_URL: upstream.url, DATA_DIR: dataDir,
      LANGFUSE_HOST: langfuse.url, LANGFUSE_PUBLIC_KEY: langfuse.publicKey, LANGFUSE_SECRET_KEY: langfuse.secretKey,
      UPSTREAM_TIMEOUT_S: '2', STREAM_IDLE_TIMEOUT_S: '2', TRACE_FLUSH_TIMEOUT_S: '2', NODE_OPTIONS: '--inspect=127.0.0.1:0',
    });
    inspector = await connectInspector(gateway.output);
  });
  after(async () => {
    inspector?.close();
    await gateway?.stop('SIGKILL');
    await langfuse.close();
    await upstream.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it(`serves ${soakSeconds} s of mixed faults with every call traced once and flat RSS and file handles`, { timeout: (soakSeconds + 150) * 1000 }, async () => {
    const pid = gateway.child.pid as number;
    // The idle baseline: after one traced call (the trace worker has opened the journal and the spool) and after the
    // keep-alive sockets of that call have closed again.
    const first = await post(`${gateway.url}/v1/chat/completions`, { model: 'openai/gpt-4o-mini', messages: [] }, { authorization: `Bearer ${KEY}` });
    assert.equal(first.status, 200);
    await langfuse.waitForTraces(1, 10_000);
    await sleep(6000);
    langfuse.reset();
    const startedAt = Date.now();
    const idleBefore = sample(pid, startedAt);
    const handlesBefore = handles(pid);
    const samples: Sample[] = [];
    const seen = new Set<string>();
    const counts = new Map<string, number>();
    const problems: string[] = [];
    let stopping = false;

    const worker = async (index: number) => {
      const next = random(1000 + index);
      while (!stopping) {
        const kind = pick(next);
        counts.set(kind.name, (counts.get(kind.name) ?? 0) + 1);
        try {
          const response = await post(`${gateway.url}/v1/chat/completions`, { model: kind.model, stream: kind.stream, messages: [{ role: 'user', content: 'Hi' }] },
            { authorization: `Bearer ${KEY}` }, { timeoutMs: 15_000, abortAfterChunks: kind.abortAfterChunks });
          const traceId = response.headers['x-trace-id'];
          if (typeof traceId !== 'string') problems.push(`${kind.name}: no x-trace-id (status ${response.status})`);
          else seen.add(traceId);
          if (kind.abortAfterChunks !== undefined) continue;
          if (String(response.headers['content-type']).startsWith('text/event-stream')) readSse(response.body);
          else JSON.parse(response.body);
        } catch (error) {
          problems.push(`${kind.name}: ${(error as Error).message.slice(0, 200)}`);
        }
      }
    };

    const load = Promise.all(Array.from({ length: concurrency }, (_, index) => worker(index)));
    // Langfuse outages in the first half, each 8% of the run (at most 12 s): refused connections from 10%, then, once
    // delivery has recovered, 503 answers from 30% (held until at least one 503 was answered, so the shipper's
    // backoff cannot skip it). The second half is the same load with Langfuse well, to compare against.
    const at = (fraction: number) => sleep(Math.max(0, startedAt + soakSeconds * 1000 * fraction - Date.now()));
    const until = async (check: () => boolean, timeoutMs: number) => {
      const deadline = Date.now() + timeoutMs;
      while (!check() && Date.now() < deadline) await sleep(100);
    };
    const outage = Math.min(12_000, soakSeconds * 80);
    const outages = (async () => {
      await at(0.1);
      await langfuse.stop();
      await sleep(outage);
      await langfuse.restart();
      const accepted = langfuse.acceptedRequests.length;
      await until(() => langfuse.acceptedRequests.length > accepted, 30_000);
      await at(0.3);
      langfuse.setMode('503');
      await sleep(outage);
      await until(() => (langfuse.statusCounts[503] ?? 0) > 0, 30_000);
      langfuse.setMode('ok');
    })();
    let tick = 0;
    while (Date.now() - startedAt < soakSeconds * 1000) {
      await sleep(2500);
      const entry = sample(pid, startedAt);
      // A full collection every 10 s gives the heap that is really in use (a leak grows it, garbage does not).
      if (++tick % 4 === 0 && inspector) {
        entry.heapMb = await inspector.heapAfterGcMb();
        entry.rssAfterGcMb = sample(pid, startedAt).rssMb;
      }
      samples.push(entry);
    }
    stopping = true;
    await Promise.all([load, outages]);
    const loadEndedAt = Date.now();

    // Every call the clients saw reaches Langfuse.
    const deadline = Date.now() + 60_000;
    while (langfuse.spans().length < seen.size && Date.now() < deadline) await sleep(500);
    const deliveredAfterMs = Date.now() - loadEndedAt;
    // Idle keep-alive sockets close after the fakes' 5 s keep-alive timeout.
    const idleDeadline = Date.now() + 15_000;
    let idleAfter = sample(pid, startedAt);
    while (idleAfter.fds > idleBefore.fds + 2 && Date.now() < idleDeadline) {
      await sleep(500);
      idleAfter = sample(pid, startedAt);
    }

    const firstHalf = samples.filter((entry) => entry.at <= soakSeconds * 0.5);
    const secondHalf = samples.filter((entry) => entry.at > soakSeconds * 0.5);
    const afterGc = secondHalf.flatMap((entry) => (entry.rssAfterGcMb === undefined ? [] : [entry.rssAfterGcMb]));
    const maxOf = (entries: Sample[], key: 'rssMb' | 'fds') => Math.max(...entries.map((entry) => entry[key]));
    // Per thread: the least heap in use seen in the first half (warmed up), and at the very end (steady, drained).
    const heapOf = (thread: number) => ({
      firstHalfMin: Math.min(...firstHalf.flatMap((entry) => (entry.heapMb?.[thread] === undefined ? [] : [entry.heapMb[thread]]))),
      last: samples.findLast((entry) => entry.heapMb !== undefined)?.heapMb?.[thread] ?? Infinity,
    });
    const report = {
      calls: [...counts.values()].reduce((sum, count) => sum + count, 0), kinds: Object.fromEntries(counts), traced: seen.size,
      inLangfuse: new Set(langfuse.spans().map((span) => span.traceId)).size, maxDeliveries: langfuse.maxDeliveries(), deliveredAfterMs, langfuseStatuses: langfuse.statusCounts,
      rssMb: {
        idleBefore: idleBefore.rssMb, firstHalfMax: maxOf(firstHalf, 'rssMb'), secondHalfMax: maxOf(secondHalf, 'rssMb'),
        secondHalfAfterGc: afterGc, idleAfter: idleAfter.rssMb,
      },
      heapAfterGcMb: { main: heapOf(0), traceWorker: heapOf(1) },
      fds: { idleBefore: idleBefore.fds, firstHalfMax: maxOf(firstHalf, 'fds'), secondHalfMax: maxOf(secondHalf, 'fds'), idleAfter: idleAfter.fds },
      samples: samples.map((entry) => `${entry.at}s:${entry.rssMb}MB/${entry.fds}fd${entry.heapMb ? `/heap${entry.heapMb.join('+')}` : ''}`).join(' '),
    };
    console.log(JSON.stringify(report, null, 1));

    assert.deepEqual(problems.slice(0, 10), [], `${problems.length} client-side problems`);
    assert.ok((report.langfuseStatuses[503] ?? 0) > 0, 'the shipper met the 503 outage');
    assert.ok(seen.size > soakSeconds * 20, `only ${seen.size} calls in ${soakSeconds} s`);
    const delivered = new Set(langfuse.spans().map((span) => span.traceId));
    const missing = [...seen].filter((id) => !delivered.has(id));
    assert.deepEqual(missing.slice(0, 5), [], `${missing.length} of ${seen.size} traces never reached Langfuse`);
    assert.equal(delivered.size, seen.size, 'no trace Langfuse got that no client saw');
    assert.equal(langfuse.maxDeliveries(), 1, 'no trace was delivered twice');
    // Memory. The heap in use after a full collection, on the request thread and on the trace worker, is the leak
    // detector: the second half alone serves some 15,000 calls, so a leak of 300 bytes a call would add 5 MB. RSS also
    // holds garbage, V8's spare heap and what malloc keeps (it steps up when an outage's backlog drains and stays
    // there), so it gets a looser bound: the second half, same load and Langfuse well, within 25% of the first
    // half's peak, and no steady climb through the second half (RSS right after each full collection: last within
    // 10% of first).
    for (const [thread, heap] of Object.entries(report.heapAfterGcMb)) {
      assert.ok(heap.last <= heap.firstHalfMin + 5, `${thread}: heap in use after GC went from ${heap.firstHalfMin} MB to ${heap.last} MB`);
    }
    assert.ok(report.rssMb.secondHalfMax <= report.rssMb.firstHalfMax * 1.25,
      `RSS: ${report.rssMb.firstHalfMax} MB at most in the first half, ${report.rssMb.secondHalfMax} MB in the second`);
    assert.ok((afterGc.at(-1) ?? 0) <= (afterGc[0] ?? 0) * 1.1, `RSS after GC climbs through the second half: ${afterGc.join(', ')} MB`);
    // File handles: the same load holds about the same sockets; once idle, back to where it started.
    assert.ok(report.fds.secondHalfMax <= report.fds.firstHalfMax + 10, `fds under load: ${report.fds.firstHalfMax}, then ${report.fds.secondHalfMax}`);
    assert.ok(report.fds.idleAfter <= report.fds.idleBefore + 2,
      `idle fds: ${report.fds.idleBefore} before, ${report.fds.idleAfter} after; new: ${leftOver(handlesBefore, handles(pid)).join(', ')}`);
    assert.equal(gateway.child.exitCode, null, 'the gateway is still running');
    // With a debugger attached, Node waits at exit for it to leave.
    inspector?.close();
    assert.equal(await gateway.stop('SIGTERM'), 0);
  });
});
