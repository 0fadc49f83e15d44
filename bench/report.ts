// Turns the figures into the issue's targets (PASS/FAIL, all as ratios within one run) and a Markdown report.
import type { LongRunResult } from './long-run.ts';
import type { SlowStreamResult } from './slow-streams.ts';
import type { Figures, TargetLabel, ThroughputScenario } from './throughput.ts';

export type SlowStreamTargetFigures = SlowStreamResult & { cpuUsPerChunk: number; peakRssMB: number };

/** Over the rounds: medians of the delays, times and CPU; the fewest completed; the highest peak RSS. */
export type SlowStreamRoundsFigures = SlowStreamTargetFigures & { rounds: SlowStreamTargetFigures[] };

export interface SlowStreamsFigures {
  baseline: SlowStreamRoundsFigures;
  gateway: SlowStreamRoundsFigures;
}

export interface Check {
  target: string;
  measured: string;
  limit: string;
  pass: boolean;
}

export interface BenchResults {
  startedAt: string;
  wallClockS: number;
  machine: Record<string, string | number>;
  settings: Record<string, unknown>;
  throughput: ThroughputScenario[];
  slowStreams?: SlowStreamsFigures;
  longRun?: LongRunResult;
  checks: Check[];
}

const labels: Record<TargetLabel, string> = { baseline: 'baseline (bare undici pass-through)', gateway: 'gateway, tracing on', gatewayTracingOff: 'gateway, tracing off' };

export function checksFor(results: Omit<BenchResults, 'checks'>): Check[] {
  const checks: Check[] = [];
  for (const scenario of results.throughput) {
    const { baseline, gateway, gatewayTracingOff } = scenario.targets;
    if (!baseline || !gateway) continue;
    if (scenario.connections > 1) {
      const ratio = gateway.requestsPerSecond / baseline.requestsPerSecond;
      checks.push({ target: `throughput, tracing on / baseline (${scenario.name})`, measured: `${ratio.toFixed(2)}x`, limit: '>= 0.60x', pass: ratio >= 0.6 });
      if (gatewayTracingOff) {
        const onOff = gateway.requestsPerSecond / gatewayTracingOff.requestsPerSecond;
        checks.push({ target: `throughput, tracing on / off (${scenario.name})`, measured: `${onOff.toFixed(2)}x`, limit: '>= 0.85x', pass: onOff >= 0.85 });
      }
    } else {
      const added = gateway.p50Ms - baseline.p50Ms;
      checks.push({ target: `p50 latency added (${scenario.name})`, measured: `${added.toFixed(3)} ms`, limit: '<= 0.300 ms', pass: added <= 0.3 });
    }
  }
  const slow = results.slowStreams;
  if (slow) {
    const { streams } = slow.gateway;
    checks.push({ target: 'slow streams completed through the gateway, side by side (each within 12 s)', measured: `${slow.gateway.onTime} / ${streams} (${slow.gateway.completed} in all)`, limit: `${streams} / ${streams}`, pass: slow.gateway.onTime === streams });
    const added = slow.gateway.delayP99Ms - slow.baseline.delayP99Ms;
    checks.push({ target: 'slow streams, p99 chunk delay added', measured: `${added.toFixed(2)} ms`, limit: '<= 5 ms', pass: added <= 5 });
    checks.push({ target: 'slow streams, gateway peak RSS', measured: `${slow.gateway.peakRssMB.toFixed(0)} MB`, limit: '<= 200 MB', pass: slow.gateway.peakRssMB <= 200 });
  }
  const long = results.longRun;
  if (long) {
    checks.push({ target: `long run, RSS growth after warm-up (${long.requests} requests; median of the first vs the last 10 s)`, measured: `${long.rssGrowthPercent.toFixed(1)} %`, limit: '<= 10 %', pass: long.rssGrowthPercent <= 10 });
    checks.push({ target: 'long run, every call traced', measured: `${long.langfuse.traces} traces for ${long.ok} answered calls, ${long.langfuse.missing} missing, ${long.failed} failed`, limit: 'all, exactly', pass: long.everyCallTraced });
  }
  return checks;
}

const n = (value: number, digits = 0) => (Number.isFinite(value) ? value.toFixed(digits) : '-');
const signed = (value: number, digits: number) => (value >= 0 ? `+${n(value, digits)}` : n(value, digits));
const row = (cells: string[]) => `| ${cells.join(' | ')} |`;

function ratioRow(gateway: Figures, baseline: Figures): string {
  return row(['**gateway / baseline**', `**${n(gateway.requestsPerSecond / baseline.requestsPerSecond, 2)}x**`,
    signed(gateway.p50Ms - baseline.p50Ms, 3), signed(gateway.p99Ms - baseline.p99Ms, 3),
    `${n(gateway.cpuUsPerRequest / baseline.cpuUsPerRequest, 1)}x`, `${n(gateway.peakRssMB / baseline.peakRssMB, 1)}x`]);
}

export function toMarkdown(results: BenchResults): string {
  const lines: string[] = [`# Gateway benchmark, ${results.startedAt}`, ''];
  lines.push(`Machine: ${Object.entries(results.machine).map(([key, value]) => `${key} ${value}`).join('; ')}.`, '');
  lines.push(`Settings: ${Object.entries(results.settings).map(([key, value]) => `${key} ${JSON.stringify(value)}`).join(', ')}. Wall clock ${n(results.wallClockS)} s.`, '');
  if (results.throughput.length > 0) {
    lines.push('## Throughput and latency (medians of the rounds; latency to the full response)', '');
    for (const scenario of results.throughput) {
      lines.push(`### ${scenario.name}`, '');
      lines.push(row(['target', 'req/s', 'p50 ms', 'p99 ms', 'CPU µs/req', 'peak RSS MB']), row(['---', '---:', '---:', '---:', '---:', '---:']));
      for (const [label, figures] of Object.entries(scenario.targets) as Array<[TargetLabel, Figures]>) {
        lines.push(row([labels[label], n(figures.requestsPerSecond), n(figures.p50Ms, 3), n(figures.p99Ms, 3), n(figures.cpuUsPerRequest), n(figures.peakRssMB)]));
      }
      const { baseline, gateway } = scenario.targets;
      if (baseline && gateway) lines.push(ratioRow(gateway, baseline));
      lines.push('');
    }
  }
  const slow = results.slowStreams;
  if (slow) {
    lines.push(`## ${slow.gateway.streams} concurrent slow streams (a chunk every 100 ms for 10 s)`, '',
      `${slow.gateway.rounds.length} alternating rounds per target after a JIT warm-up; medians of the rounds (completed: the fewest; peak RSS: the highest). `
      + `p99 chunk delay per round: baseline ${slow.baseline.rounds.map((round) => n(round.delayP99Ms, 1)).join(', ')} ms; gateway ${slow.gateway.rounds.map((round) => n(round.delayP99Ms, 1)).join(', ')} ms.`, '');
    lines.push(row(['target', 'completed (within 12 s)', 'chunk delay p50 ms', 'p99 ms', 'max ms', 'first chunk p99 ms', 'stream p99 s', 'CPU µs/chunk', 'peak RSS MB']), row(['---', '---:', '---:', '---:', '---:', '---:', '---:', '---:', '---:']));
    for (const [label, figures] of [['baseline', slow.baseline], ['gateway', slow.gateway]] as const) {
      lines.push(row([labels[label], `${figures.completed}/${figures.streams} (${figures.onTime})`, n(figures.delayP50Ms, 2), n(figures.delayP99Ms, 2), n(figures.delayMaxMs, 1), n(figures.firstChunkP99Ms, 1), n(figures.durationP99Ms / 1000, 2), n(figures.cpuUsPerChunk), n(figures.peakRssMB)]));
    }
    lines.push('');
  }
  const long = results.longRun;
  if (long) {
    lines.push(`## Long run: ${long.requests} non-streaming calls, tracing on`, '');
    lines.push(`${long.ok} answered (${long.failed} failed) at ${n(long.requestsPerSecond)} req/s. RSS ${n(long.rssAfterWarmupMB, 1)} MB right after the warm-up, `
      + `${n(long.rssEndMB, 1)} MB at the end; median of the first 10 s ${n(long.rssFirstWindowMB, 1)} MB, of the last 10 s ${n(long.rssLastWindowMB, 1)} MB `
      + `(${n(long.rssGrowthPercent, 1)} %), peak ${n(long.peakRssMB, 1)} MB; every 5 s: ${long.rssTimelineMB.join(', ')} MB. `
      + `Backlog empty ${n(long.drainMs / 1000, 1)} s after the last call (left: ${long.backlogLeft}). Fake Langfuse: ${long.langfuse.traces} distinct traces, `
      + `${long.langfuse.spans} spans in ${long.langfuse.accepted} requests (${long.langfuse.validated} strictly validated, ${long.langfuse.rejected} refused or invalid), ${long.langfuse.missing} trace ids missing.`, '');
  }
  lines.push('## Targets', '', row(['target', 'measured', 'limit', 'result']), row(['---', '---', '---', '---']));
  for (const check of results.checks) lines.push(row([check.target, check.measured, check.limit, check.pass ? 'PASS' : '**FAIL**']));
  lines.push('');
  return lines.join('\n');
}
