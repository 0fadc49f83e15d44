// Throughput scenarios (streamed or not, at each concurrency): the baseline and the gateways take
// turns, round after round, in alternating order, so drift (thermal, noisy neighbours) hits all alike.
// The traced gateway's CPU time runs until its shipper has emptied the backlog: shipping is its cost too.
import { waitForDrain } from './gateway-health.ts';
import { runLoad } from './load.ts';
import type { LoadTool } from './load.ts';
import { cpuMicros, watchPeakRss } from './proc-stats.ts';
import type { BodyName } from './request-bodies.ts';
import { median } from './stats.ts';

export type TargetLabel = 'baseline' | 'gateway' | 'gatewayTracingOff';

export interface Target {
  label: TargetLabel;
  pid: number;
  port: number;
  /** Has a shipper whose backlog must drain before the CPU time is read. */
  traced: boolean;
}

export interface Figures {
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  cpuUsPerRequest: number;
  peakRssMB: number;
  requests: number;
  errors: number;
}

export interface RoundFigures extends Figures {
  /** Traced gateway only: backlog when the load stopped, and how long the shipper took to empty it. */
  backlogAfterLoad?: number;
  drainMs?: number;
}

export interface ThroughputScenario {
  name: string;
  stream: boolean;
  connections: number;
  /** Medians over the rounds (peak RSS: the highest); the rounds themselves too. */
  targets: Partial<Record<TargetLabel, Figures & { rounds: RoundFigures[] }>>;
}

export interface ThroughputContext {
  tool: LoadTool;
  targets: Target[];
  bodies: Record<BodyName, string>;
  bodyFiles: Record<BodyName, string>;
  apiKey: string;
  durationS: number;
  warmupS: number;
  rounds: number;
  connections: number[];
  log: (line: string) => void;
}

const MB = 1024 * 1024;

async function measure(context: ThroughputContext, target: Target, body: BodyName, connections: number): Promise<RoundFigures> {
  const cpuBefore = cpuMicros(target.pid);
  const peak = watchPeakRss(target.pid);
  const load = await runLoad(context.tool, {
    url: `http://127.0.0.1:${target.port}/v1/chat/completions`, body: context.bodies[body], bodyFile: context.bodyFiles[body],
    apiKey: context.apiKey, connections, durationS: context.durationS,
  });
  let drain: { backlog: number; waitedMs: number } | undefined;
  let backlogAfterLoad: number | undefined;
  if (target.traced) {
    const first = await waitForDrain(target.port, context.apiKey, 0);
    backlogAfterLoad = first.backlog;
    drain = await waitForDrain(target.port, context.apiKey, 60_000);
    if (drain.backlog !== 0) context.log(`  warning: ${target.label} still has ${drain.backlog} traces to ship after 60 s`);
  }
  const cpu = cpuMicros(target.pid) - cpuBefore;
  return {
    requestsPerSecond: load.requestsPerSecond, p50Ms: load.p50Ms, p99Ms: load.p99Ms,
    cpuUsPerRequest: load.requests > 0 ? cpu / load.requests : Number.NaN,
    peakRssMB: peak.stop() / MB, requests: load.requests, errors: load.errors,
    ...(drain ? { backlogAfterLoad, drainMs: drain.waitedMs } : {}),
  };
}

function summarize(rounds: RoundFigures[]): Figures & { rounds: RoundFigures[] } {
  const mid = (pick: (round: RoundFigures) => number) => median(rounds.map(pick));
  return {
    requestsPerSecond: mid((r) => r.requestsPerSecond), p50Ms: mid((r) => r.p50Ms), p99Ms: mid((r) => r.p99Ms),
    cpuUsPerRequest: mid((r) => r.cpuUsPerRequest), peakRssMB: Math.max(...rounds.map((r) => r.peakRssMB)),
    requests: rounds.reduce((sum, r) => sum + r.requests, 0), errors: rounds.reduce((sum, r) => sum + r.errors, 0), rounds,
  };
}

const fmt = (figures: RoundFigures) =>
  `${figures.requestsPerSecond.toFixed(0).padStart(6)} req/s  p50 ${figures.p50Ms.toFixed(3)} ms  p99 ${figures.p99Ms.toFixed(3)} ms  `
  + `${figures.cpuUsPerRequest.toFixed(0)} µs CPU/req  ${figures.peakRssMB.toFixed(0)} MB${figures.errors ? `  ${figures.errors} errors` : ''}`
  + (figures.drainMs === undefined ? '' : `  (backlog ${figures.backlogAfterLoad}, drained in ${figures.drainMs.toFixed(0)} ms)`);

export async function runThroughput(context: ThroughputContext): Promise<ThroughputScenario[]> {
  const scenarios: ThroughputScenario[] = [];
  for (const stream of [false, true]) {
    for (const connections of context.connections) {
      const name = `${stream ? 'stream' : 'non-stream'}, ${connections} connection${connections === 1 ? '' : 's'}`;
      const body: BodyName = stream ? 'stream' : 'plain';
      context.log(`\n${name}`);
      if (context.warmupS > 0) {
        for (const target of context.targets) {
          await runLoad(context.tool, { url: `http://127.0.0.1:${target.port}/v1/chat/completions`, body: context.bodies[body], bodyFile: context.bodyFiles[body], apiKey: context.apiKey, connections, durationS: context.warmupS });
          if (target.traced) await waitForDrain(target.port, context.apiKey, 60_000);
        }
      }
      const rounds = new Map<TargetLabel, RoundFigures[]>();
      for (let round = 0; round < context.rounds; round += 1) {
        const order = round % 2 === 0 ? context.targets : [...context.targets].reverse();
        for (const target of order) {
          const figures = await measure(context, target, body, connections);
          rounds.set(target.label, [...(rounds.get(target.label) ?? []), figures]);
          context.log(`  round ${round + 1} ${target.label.padEnd(17)} ${fmt(figures)}`);
        }
      }
      const targets: ThroughputScenario['targets'] = {};
      for (const [label, figures] of rounds) targets[label] = summarize(figures);
      scenarios.push({ name, stream, connections, targets });
    }
  }
  return scenarios;
}
