// Closed-loop HTTP load for a fixed time: wrk when installed (C, microsecond latencies, its own
// process), else autocannon in this process with every response time kept (its own histogram
// rounds to whole milliseconds, too coarse for a 0.3 ms target).
import { execFile, execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { percentile } from './stats.ts';

export interface LoadOptions {
  url: string;
  bodyFile: string;
  body: string;
  apiKey: string;
  connections: number;
  durationS: number;
}

export interface LoadResult {
  requests: number;
  durationS: number;
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  /** Socket errors, time-outs and non-2xx answers. */
  errors: number;
}

export type LoadTool = 'wrk' | 'autocannon';

export function pickLoadTool(requested?: string): LoadTool {
  if (requested === 'autocannon') return 'autocannon';
  try {
    execFileSync('wrk', ['--version'], { stdio: 'ignore' });
    return 'wrk';
  } catch (error) {
    // wrk --version exits 1 after printing its version: it is there.
    if ((error as { status?: number }).status === 1) return 'wrk';
    if (requested === 'wrk') throw new Error('wrk was requested but is not installed (apt-get install -y wrk)');
    return 'autocannon';
  }
}

const wrkScript = fileURLToPath(new URL('./wrk-post.lua', import.meta.url));

interface WrkSummary { requests: number; durationUs: number; connect: number; read: number; write: number; status: number; timeout: number; p50Us: number; p99Us: number }

function runWrk(options: LoadOptions): Promise<LoadResult> {
  const args = ['-t1', `-c${options.connections}`, `-d${options.durationS}s`, '--timeout', '30s', '-s', wrkScript, options.url, '--', options.bodyFile, options.apiKey];
  return new Promise((resolve, reject) => {
    execFile('wrk', args, { timeout: (options.durationS + 60) * 1000 }, (error, stdout, stderr) => {
      if (error) { reject(new Error(`wrk failed: ${error.message}\n${stderr}`)); return; }
      const line = stdout.split('\n').find((text) => text.startsWith('WRK_JSON '));
      if (!line) { reject(new Error(`wrk printed no summary:\n${stdout}\n${stderr}`)); return; }
      const s = JSON.parse(line.slice('WRK_JSON '.length)) as WrkSummary;
      const durationS = s.durationUs / 1e6;
      resolve({
        requests: s.requests, durationS, requestsPerSecond: s.requests / durationS,
        p50Ms: s.p50Us / 1000, p99Ms: s.p99Us / 1000,
        errors: s.connect + s.read + s.write + s.status + s.timeout,
      });
    });
  });
}

interface AutocannonInstance {
  on(event: 'response', listener: (client: unknown, statusCode: number, bytes: number, responseTime: number) => void): void;
  on(event: 'done', listener: (result: { duration: number; errors: number; timeouts: number; non2xx: number }) => void): void;
  on(event: 'error', listener: (error: Error) => void): void;
}
type Autocannon = (options: Record<string, unknown>) => AutocannonInstance;

function runAutocannon(options: LoadOptions): Promise<LoadResult> {
  const autocannon = createRequire(import.meta.url)('autocannon') as Autocannon;
  const times: number[] = [];
  return new Promise((resolve, reject) => {
    const instance = autocannon({
      url: options.url, method: 'POST', body: options.body, connections: options.connections, duration: options.durationS,
      headers: { 'content-type': 'application/json', authorization: `Bearer ${options.apiKey}` }, timeout: 30,
    });
    instance.on('response', (_client, statusCode, _bytes, responseTime) => { if (statusCode < 300) times.push(responseTime); });
    instance.on('error', reject);
    instance.on('done', (result) => {
      times.sort((a, b) => a - b);
      resolve({
        requests: times.length, durationS: result.duration, requestsPerSecond: times.length / result.duration,
        p50Ms: percentile(times, 50), p99Ms: percentile(times, 99), errors: result.errors + result.timeouts + result.non2xx,
      });
    });
  });
}

export function runLoad(tool: LoadTool, options: LoadOptions): Promise<LoadResult> {
  return tool === 'wrk' ? runWrk(options) : runAutocannon(options);
}
