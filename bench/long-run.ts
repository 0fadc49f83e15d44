// The long run: N non-streaming calls at 50 connections against the traced gateway. RSS is read after a
// warm-up, every second of the measured part, and at the end; growth compares the medians of the first and
// the last ten seconds. Then, once /health shows an empty backlog, every x-trace-id the clients
// got must be at the fake Langfuse, and nothing else.
import { sendFixedRequests } from './fixed-requests.ts';
import { waitForDrain } from './gateway-health.ts';
import type { LangfuseCounts } from './bench-langfuse.ts';
import type { Child } from './processes.ts';
import { rssBytes, watchPeakRss } from './proc-stats.ts';
import { median } from './stats.ts';

export interface LongRunResult {
  requests: number;
  ok: number;
  failed: number;
  firstFailure?: string;
  requestsPerSecond: number;
  rssAfterWarmupMB: number;
  rssEndMB: number;
  /** Growth from the median RSS of the first 10 s after the warm-up to the median of the last 10 s. */
  rssGrowthPercent: number;
  rssFirstWindowMB: number;
  rssLastWindowMB: number;
  /** RSS every 5 s of the measured part, MB. */
  rssTimelineMB: number[];
  peakRssMB: number;
  drainMs: number;
  backlogLeft: number;
  langfuse: LangfuseCounts & { missing: number };
  everyCallTraced: boolean;
}

const MB = 1024 * 1024;

export async function runLongRun(options: {
  gateway: Child; langfuse: Child; apiKey: string; body: string; connections: number; requests: number; warmup: number; log: (line: string) => void;
}): Promise<LongRunResult> {
  const { gateway, langfuse, apiKey, log } = options;
  const before = await waitForDrain(gateway.port, apiKey, 120_000);
  if (before.backlog !== 0) throw new Error(`long run: the gateway still had ${before.backlog} traces to ship from earlier scenarios`);
  await langfuse.ask({ type: 'reset' });

  const send = (count: number) => sendFixedRequests({ origin: `http://127.0.0.1:${gateway.port}`, apiKey, body: options.body, connections: options.connections, count });
  log(`  warm-up: ${options.warmup} requests`);
  const warm = await send(options.warmup);
  const rssAfterWarmup = rssBytes(gateway.pid);
  log(`  RSS after warm-up ${(rssAfterWarmup / MB).toFixed(1)} MB; measured part: ${options.requests - options.warmup} requests`);
  const peak = watchPeakRss(gateway.pid, 200);
  // One sample a second: single readings swing with the garbage collectors' timing, medians of ten do not.
  const samples: number[] = [];
  const sampler = setInterval(() => { try { samples.push(rssBytes(gateway.pid)); } catch { /* ended */ } }, 1000);
  const main = await send(options.requests - options.warmup);
  clearInterval(sampler);
  const rssEnd = rssBytes(gateway.pid);
  const peakRss = peak.stop();
  const windowOf = (part: number[]) => median(part.length > 0 ? part : [rssEnd]);
  const window = Math.min(10, Math.floor(samples.length / 2));
  const rssFirstWindow = windowOf(samples.slice(0, window));
  const rssLastWindow = windowOf(samples.slice(samples.length - window));
  log(`  ${main.ok} ok in ${main.durationS.toFixed(1)} s; RSS at the end ${(rssEnd / MB).toFixed(1)} MB; waiting for the shipper`);

  const drain = await waitForDrain(gateway.port, apiKey, Math.max(120_000, options.requests));
  const traceIds = [...warm.traceIds, ...main.traceIds];
  const counts = await langfuse.ask<LangfuseCounts>({ type: 'counts' }, 120_000);
  const { missing } = await langfuse.ask<{ missing: number }>({ type: 'missing', traceIds }, 120_000);
  const ok = warm.ok + main.ok;
  const failed = warm.failed + main.failed;
  return {
    requests: options.requests, ok, failed, firstFailure: warm.firstFailure ?? main.firstFailure,
    requestsPerSecond: main.ok / main.durationS,
    rssAfterWarmupMB: rssAfterWarmup / MB, rssEndMB: rssEnd / MB,
    rssGrowthPercent: ((rssLastWindow - rssFirstWindow) / rssFirstWindow) * 100,
    rssFirstWindowMB: rssFirstWindow / MB, rssLastWindowMB: rssLastWindow / MB,
    rssTimelineMB: samples.filter((_, i) => i % 5 === 0).map((bytes) => Math.round(bytes / MB)),
    peakRssMB: peakRss / MB,
    drainMs: drain.waitedMs, backlogLeft: drain.backlog,
    langfuse: { ...counts, missing },
    everyCallTraced: failed === 0 && missing === 0 && counts.traces === ok && counts.rejected === 0,
  };
}
