// `npm run bench`: starts a fake OpenRouter, a fake Langfuse, the bare pass-through baseline and the
// gateway (tracing on, and tracing off), loads them in turns on loopback, checks the issue's targets
// and writes bench/out/results.{json,md}. A missed target is a result (exit 0); a broken harness is not.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { availableParallelism, cpus, release, tmpdir, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BENCH_LANGFUSE_KEYS } from './bench-langfuse.ts';
import { waitForDrain } from './gateway-health.ts';
import { pickLoadTool } from './load.ts';
import { runLongRun } from './long-run.ts';
import { parseBenchOptions } from './options.ts';
import type { BenchOptions } from './options.ts';
import { createProcessGroup } from './processes.ts';
import type { Child, ProcessGroup } from './processes.ts';
import { cpuMicros, machineCpuMicros, ownTreeCpuMicros, threadCpuMicros, threadCpuSplit, watchPeakRss } from './proc-stats.ts';
import { checksFor, toMarkdown } from './report.ts';
import type { BenchResults, SlowStreamRoundsFigures, SlowStreamsFigures, SlowStreamTargetFigures } from './report.ts';
import { requestBodies, writeBodyFiles } from './request-bodies.ts';
import { runSlowStreams, warmUpStreams } from './slow-streams.ts';
import { median } from './stats.ts';
import { runThroughput } from './throughput.ts';
import type { Target } from './throughput.ts';
import { startScript } from './start-script.ts';
import { formatTopFunctions } from './top-functions.ts';

const repo = fileURLToPath(new URL('..', import.meta.url));
const apiKey = 'bench-gateway-key-0123456789';
const log = (line: string) => process.stdout.write(`${line}\n`);

function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolvePort(port));
    });
  });
}

function machine(tool: string): Record<string, string | number> {
  let toolVersion = tool;
  try {
    toolVersion = tool === 'wrk' ? execFileSync('wrk', ['-v'], { encoding: 'utf8' }).split('\n')[0] ?? 'wrk' : tool;
  } catch (error) {
    toolVersion = String((error as { stdout?: string }).stdout ?? 'wrk').split('\n')[0] ?? 'wrk';
  }
  return {
    cpu: cpus()[0]?.model ?? 'unknown', cores: availableParallelism(), memoryGB: Math.round(totalmem() / 2 ** 30),
    kernel: release(), node: process.version, load: toolVersion.replace(/\s*Copyright.*$/, '').trim(),
  };
}

interface Targets { baseline: Child; gateway: Child; gatewayOff?: Child }
interface Stack extends Targets {
  upstream: Child; langfuse: Child; dataDir: string;
  /** Starts a new baseline and gateway (and the tracing-off gateway when asked). */
  startTargets(withTracingOff: boolean): Promise<Targets>;
}

async function startStack(group: ProcessGroup, options: BenchOptions, profileDir: string): Promise<Stack> {
  const upstream = await group.forkHelper('fake-upstream', join(repo, 'bench/fake-upstream.ts'));
  const langfuse = await group.forkHelper('fake-langfuse', join(repo, 'bench/bench-langfuse.ts'));
  const dataDir = mkdtempSync(join(tmpdir(), 'gateway-bench-'));
  const start = startScript(repo);
  const gatewayEnv = (port: number, name: string, sampleRate: string): Record<string, string> => ({
    ...start.env,
    PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp',
    OPENROUTER_API_KEY: 'bench-openrouter-key', OPENROUTER_BASE_URL: `http://127.0.0.1:${upstream.port}/api/v1`,
    API_KEY: apiKey, PORT: String(port), HOST: '127.0.0.1', DATA_DIR: join(dataDir, name), LOG_LEVEL: 'warn', LOG_FORMAT: 'json',
    LANGFUSE_PUBLIC_KEY: BENCH_LANGFUSE_KEYS.publicKey, LANGFUSE_SECRET_KEY: BENCH_LANGFUSE_KEYS.secretKey,
    LANGFUSE_HOST: `http://127.0.0.1:${langfuse.port}`, TRACE_SAMPLE_RATE: sampleRate, SHUTDOWN_DRAIN_S: '2', TRACE_FLUSH_TIMEOUT_S: '5',
  });
  const startGateway = async (name: string, sampleRate: string, nodeArgs: string[]) => {
    const port = await freePort();
    return group.spawnServer(name, { entry: options.gatewayEntry, cwd: repo, nodeArgs, env: gatewayEnv(port, name, sampleRate), port, apiKey });
  };
  // The gateways run with `npm start`'s environment and Node flags (bench/start-script.ts); the baseline with Node's defaults.
  const gatewayArgs = [...start.nodeFlags, ...options.nodeArgs];
  const startTargets = async (withTracingOff: boolean): Promise<Targets> => {
    const baseline = await group.forkHelper('baseline', join(repo, 'bench/baseline-proxy.ts'), { UPSTREAM_ORIGIN: `http://127.0.0.1:${upstream.port}` }, options.nodeArgs);
    const gateway = await startGateway('gateway', '1', [...gatewayArgs, ...(options.profile ? ['--cpu-prof', '--cpu-prof-dir', profileDir] : [])]);
    const gatewayOff = withTracingOff ? await startGateway('gateway-tracing-off', '0', gatewayArgs) : undefined;
    return { baseline, gateway, gatewayOff };
  };
  const targets = await startTargets(options.tracingOff && options.only.includes('throughput'));
  return { upstream, langfuse, dataDir, ...targets, startTargets };
}

async function slowStreams(stack: Stack, streams: number, rounds: number): Promise<SlowStreamsFigures> {
  // Nominal 10 s per stream, plus the 1 s ramp and 5 s of grace: a stream still running then was queued.
  const common = { apiKey, body: requestBodies.slow, streams, rampMs: 1000, timeoutMs: 16_000 };
  const measure = async (name: string, target: Child): Promise<SlowStreamTargetFigures> => {
    const peak = watchPeakRss(target.pid, 100);
    const cpuBefore = cpuMicros(target.pid);
    const threadsBefore = threadCpuMicros(target.pid);
    const figures = await runSlowStreams({ ...common, port: target.port });
    const cpuUsPerChunk = (cpuMicros(target.pid) - cpuBefore) / Math.max(1, figures.chunks);
    const threads = threadCpuSplit(threadsBefore, threadCpuMicros(target.pid), Math.max(1, figures.chunks));
    const peakRssMB = peak.stop() / 2 ** 20;
    log(`  ${name}: ${figures.completed}/${streams} complete (${figures.onTime} within 12 s), chunk delay p50 ${figures.delayP50Ms.toFixed(2)} ms, `
      + `p99 ${figures.delayP99Ms.toFixed(2)} ms, first chunk p99 ${figures.firstChunkP99Ms.toFixed(1)} ms, ${cpuUsPerChunk.toFixed(0)} µs CPU/chunk (${threads}), `
      + `peak RSS ${peakRssMB.toFixed(0)} MB; p99 per second ${figures.delayP99BySecondMs.map((ms) => ms.toFixed(0)).join(' ')}${figures.firstFailure ? `; first failure: ${figures.firstFailure}` : ''}`);
    return { ...figures, cpuUsPerChunk, peakRssMB };
  };
  // Both start from freshly started processes: a short JIT warm-up for each, so the first round measures the
  // proxy, not its first compilations (the gateway's traces of it are shipped before the round starts).
  log(`${streams} slow streams: warm-up (${slowWarmupRequests} ordinary streamed calls each)`);
  for (const target of [stack.baseline, stack.gateway]) await warmUpStreams({ port: target.port, apiKey, body: requestBodies.stream, requests: slowWarmupRequests, concurrency: 10 });
  await waitForDrain(stack.gateway.port, apiKey, 60_000);
  const results: { baseline: SlowStreamTargetFigures[]; gateway: SlowStreamTargetFigures[] } = { baseline: [], gateway: [] };
  for (let round = 1; round <= rounds; round += 1) {
    log(`${streams} slow streams, round ${round}/${rounds}`);
    const order = round % 2 === 1 ? (['baseline', 'gateway'] as const) : (['gateway', 'baseline'] as const);
    for (const label of order) {
      results[label].push(await measure(label === 'baseline' ? 'baseline' : 'gateway, tracing on', stack[label]));
      if (label === 'gateway') await waitForDrain(stack.gateway.port, apiKey, 60_000);
    }
  }
  return { baseline: combineSlowRounds(results.baseline), gateway: combineSlowRounds(results.gateway) };
}

const slowWarmupRequests = 300;

function combineSlowRounds(rounds: SlowStreamTargetFigures[]): SlowStreamRoundsFigures {
  const mid = (pick: (round: SlowStreamTargetFigures) => number) => median(rounds.map(pick));
  const fewest = rounds.reduce((worst, round) => (round.onTime < worst.onTime || round.completed < worst.completed ? round : worst));
  return {
    ...fewest,
    delayP50Ms: mid((round) => round.delayP50Ms), delayP99Ms: mid((round) => round.delayP99Ms), delayMaxMs: mid((round) => round.delayMaxMs),
    firstChunkP99Ms: mid((round) => round.firstChunkP99Ms), durationP99Ms: mid((round) => round.durationP99Ms), cpuUsPerChunk: mid((round) => round.cpuUsPerChunk),
    peakRssMB: Math.max(...rounds.map((round) => round.peakRssMB)),
    rounds,
  };
}

function printProfile(profileDir: string, since: number): void {
  const files = readdirSync(profileDir).filter((name) => name.endsWith('.cpuprofile'))
    .map((name) => join(profileDir, name)).filter((file) => statSync(file).mtimeMs >= since)
    .sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs);
  if (!files[0]) {
    log('\nNo CPU profile was written (the gateway did not exit cleanly?).');
    return;
  }
  const text = formatTopFunctions(files[0], 30);
  writeFileSync(join(profileDir, 'top-functions.txt'), `${text}\n`);
  log(`\nCPU profile of the traced gateway (open it in Chrome DevTools > Performance, or speedscope):\n${text}`);
}

/** How busy the machine was with other work during the run: the figures are only as good as this is low. */
function noise(before: { busy: number; steal: number; total: number }, ownBefore: number): Record<string, string> {
  const after = machineCpuMicros();
  const total = after.total - before.total;
  const foreign = Math.max(0, after.busy - before.busy - (ownTreeCpuMicros() - ownBefore));
  return {
    otherProcessesCpu: `${((foreign / total) * 100).toFixed(1)} % of all cores`,
    steal: `${(((after.steal - before.steal) / total) * 100).toFixed(1)} %`,
  };
}

async function main(): Promise<void> {
  const options = parseBenchOptions(process.argv.slice(2), process.env);
  const started = Date.now();
  const machineBefore = machineCpuMicros();
  const ownBefore = ownTreeCpuMicros();
  const phase = (name: string) => log(`\n[${((Date.now() - started) / 1000).toFixed(0)} s] ${name}`);
  const outDir = resolve(repo, options.outDir);
  const profileDir = join(outDir, 'profiles');
  mkdirSync(profileDir, { recursive: true });
  const group = createProcessGroup(join(outDir, 'logs'));
  let stack: Stack | undefined;
  const temporary: string[] = [];
  const cleanUp = () => {
    for (const dir of [...temporary, ...(stack ? [stack.dataDir] : [])]) rmSync(dir, { recursive: true, force: true });
  };
  process.on('exit', () => { group.killAllNow(); cleanUp(); });
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      log(`\n${signal}: stopping the benchmark's processes`);
      void group.stopAll(1000).finally(() => process.exit(130));
    });
  }

  const tool = pickLoadTool(options.tool);
  const bodyDir = mkdtempSync(join(tmpdir(), 'gateway-bench-bodies-'));
  temporary.push(bodyDir);
  const bodyFiles = writeBodyFiles(bodyDir);
  log(`Load generator: ${tool}. Starting the fake upstream, fake Langfuse, baseline and gateway...`);
  stack = await startStack(group, options, profileDir);
  const s = stack;
  const targets: Target[] = [
    { label: 'baseline', pid: s.baseline.pid, port: s.baseline.port, traced: false },
    { label: 'gateway', pid: s.gateway.pid, port: s.gateway.port, traced: true },
    ...(s.gatewayOff ? [{ label: 'gatewayTracingOff' as const, pid: s.gatewayOff.pid, port: s.gatewayOff.port, traced: false }] : []),
  ];

  const partial: Omit<BenchResults, 'checks'> = {
    startedAt: new Date(started).toISOString(), wallClockS: 0, machine: machine(tool),
    settings: { nodeArgs: options.nodeArgs.join(' '), durationS: options.durationS, rounds: options.rounds, warmupS: options.warmupS, connections: options.connections, slowStreams: options.slowStreams, slowRounds: options.slowRounds, longRequests: options.longRequests, profile: options.profile },
    throughput: [],
  };
  if (options.only.includes('throughput')) {
    phase('throughput');
    partial.throughput = await runThroughput({ tool, targets, bodies: requestBodies, bodyFiles, apiKey, durationS: options.durationS, warmupS: options.warmupS, rounds: options.rounds, connections: options.connections, log });
  }
  if (options.only.includes('slow-streams') && options.slowStreams > 0) {
    phase('slow streams');
    if (options.only.includes('throughput')) {
      // New processes: the figures (peak RSS above all) are then those of 1,000 streams, not of the load before.
      log('Restarting the baseline and the gateway for the slow streams');
      await Promise.all([s.baseline, s.gateway, s.gatewayOff].map((child) => (child ? group.stop(child.process, 20_000) : undefined)));
      Object.assign(s, { gatewayOff: undefined }, await s.startTargets(false));
    }
    partial.slowStreams = await slowStreams(s, options.slowStreams, options.slowRounds);
  }
  if (options.only.includes('long-run') && options.longRequests > 0) {
    phase('long run');
    log(`Long run: ${options.longRequests} non-streaming calls at 50 connections, tracing on`);
    partial.longRun = await runLongRun({ gateway: s.gateway, langfuse: s.langfuse, apiKey, body: requestBodies.plain, connections: 50, requests: options.longRequests, warmup: options.longWarmup, log });
  }

  await group.stop(s.gateway.process, 20_000);
  await group.stopAll();
  partial.wallClockS = (Date.now() - started) / 1000;
  Object.assign(partial.machine, noise(machineBefore, ownBefore));
  const results: BenchResults = { ...partial, checks: checksFor(partial) };
  const markdown = toMarkdown(results);
  writeFileSync(join(outDir, 'results.json'), `${JSON.stringify(results, null, 2)}\n`);
  writeFileSync(join(outDir, 'results.md'), markdown);
  log(`\n${markdown}`);
  log(`Written: ${join(options.outDir, 'results.json')} and ${join(options.outDir, 'results.md')}`);
  if (options.profile) printProfile(profileDir, started);
}

try {
  await main();
  process.exit(0);
} catch (error) {
  process.stderr.write(`\nThe benchmark harness failed: ${error instanceof Error ? error.stack ?? error.message : String(error)}\n`);
  process.exit(1);
}
