// The benchmark's knobs: command-line flags, each also settable as BENCH_<NAME> in the environment.
// The defaults keep a whole run under five minutes on a 2-core machine.
import { parseArgs } from 'node:util';

export const scenarioNames = ['throughput', 'slow-streams', 'long-run'] as const;
export type ScenarioName = (typeof scenarioNames)[number];

export interface BenchOptions {
  /** Seconds of load per target per round. */
  durationS: number;
  rounds: number;
  /** Seconds of unrecorded load per target before a scenario's first round. */
  warmupS: number;
  connections: number[];
  slowStreams: number;
  /** Alternating baseline/gateway rounds of the slow streams (medians over them). */
  slowRounds: number;
  longRequests: number;
  longWarmup: number;
  only: ScenarioName[];
  profile: boolean;
  tool?: string;
  /** Also measure the gateway with tracing off in every throughput round. */
  tracingOff: boolean;
  gatewayEntry: string;
  /** Extra Node flags for the baseline and the gateways alike (e.g. --max-semi-space-size=16). */
  nodeArgs: string[];
  outDir: string;
}

const usage = `npm run bench -- [options]
  --duration S        seconds of load per target per round (default 2)
  --rounds N          alternating baseline/gateway throughput rounds (default 4)
  --warmup S          unrecorded seconds per target before each scenario (default 1)
  --connections LIST  concurrency levels (default 1,50)
  --slow-streams N    concurrent slow streams (default 1000)
  --slow-rounds N     alternating slow-stream rounds per target, about 12 s each (default 2)
  --long-requests N   requests in the long run (default 200000)
  --long-warmup N     of which warm-up before the first RSS sample (default 40000)
  --only LIST         throughput,slow-streams,long-run (default all)
  --profile           run the traced gateway with --cpu-prof, print its top self-time functions
  --tool wrk|autocannon   load generator (default wrk when installed)
  --no-tracing-off    skip the tracing-off gateway in the throughput rounds
  --gateway-entry F   gateway entry file, relative to the repository (default dist/main.js, what npm start runs)
  --node-args=FLAGS   extra Node flags for the baseline and both gateways, e.g. --node-args=--max-semi-space-size=16
Each flag can also be given as BENCH_<FLAG> in the environment, e.g. BENCH_DURATION=10.`;

function positiveInteger(name: string, text: string): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < 0) throw new Error(`--${name}: expected a whole number, got ${JSON.stringify(text)}\n\n${usage}`);
  return value;
}

export function parseBenchOptions(argv: string[], env: NodeJS.ProcessEnv): BenchOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      duration: { type: 'string' }, rounds: { type: 'string' }, warmup: { type: 'string' }, connections: { type: 'string' },
      'slow-streams': { type: 'string' }, 'slow-rounds': { type: 'string' }, 'long-requests': { type: 'string' }, 'long-warmup': { type: 'string' },
      only: { type: 'string' }, profile: { type: 'boolean' }, tool: { type: 'string' }, 'no-tracing-off': { type: 'boolean' },
      'gateway-entry': { type: 'string' }, 'node-args': { type: 'string' }, 'out-dir': { type: 'string' }, help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(`${usage}\n`);
    process.exit(0);
  }
  const pick = (name: keyof typeof values & string, fallback: string): string => {
    const value = values[name];
    if (typeof value === 'string') return value;
    return env[`BENCH_${name.toUpperCase().replaceAll('-', '_')}`] ?? fallback;
  };
  const flag = (name: keyof typeof values & string): boolean =>
    values[name] === true || ['1', 'true', 'yes'].includes(env[`BENCH_${name.toUpperCase().replaceAll('-', '_')}`] ?? '');
  const only = pick('only', scenarioNames.join(',')).split(',').map((name) => name.trim()).filter(Boolean);
  for (const name of only) {
    if (!(scenarioNames as readonly string[]).includes(name)) throw new Error(`--only: unknown scenario ${JSON.stringify(name)}; expected ${scenarioNames.join(', ')}`);
  }
  const durationS = Number(pick('duration', '2'));
  if (!(durationS >= 1)) throw new Error('--duration: expected at least 1 second');
  const longRequests = positiveInteger('long-requests', pick('long-requests', '200000'));
  const tool = pick('tool', '');
  return {
    durationS,
    rounds: Math.max(1, positiveInteger('rounds', pick('rounds', '4'))),
    warmupS: positiveInteger('warmup', pick('warmup', '1')),
    connections: pick('connections', '1,50').split(',').map((text) => Math.max(1, positiveInteger('connections', text.trim()))),
    slowStreams: positiveInteger('slow-streams', pick('slow-streams', '1000')),
    slowRounds: Math.max(1, positiveInteger('slow-rounds', pick('slow-rounds', '2'))),
    longRequests,
    longWarmup: Math.min(longRequests, positiveInteger('long-warmup', pick('long-warmup', '40000'))),
    only: only as ScenarioName[],
    profile: flag('profile'),
    tool: tool || undefined,
    tracingOff: !flag('no-tracing-off'),
    gatewayEntry: pick('gateway-entry', 'dist/main.js'),
    nodeArgs: pick('node-args', '').split(/\s+/).filter(Boolean),
    outDir: pick('out-dir', 'bench/out'),
  };
}
