// What the benchmark reads about a process from /proc (Linux): CPU time, resident memory, its peak.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';

function clockTicksPerSecond(): number {
  try {
    const ticks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
    return Number.isFinite(ticks) && ticks > 0 ? ticks : 100;
  } catch {
    return 100;
  }
}
const ticksPerSecond = clockTicksPerSecond();

/** User plus system CPU time in a `/proc/.../stat` line (a process's or one thread's), in microseconds. */
function statCpuMicros(stat: string): number {
  // Fields after the command name (which may hold spaces) start at field 3; utime and stime are 14 and 15.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) / ticksPerSecond) * 1e6;
}

/** User plus system CPU time of the whole process (all threads), in microseconds. */
export function cpuMicros(pid: number): number {
  return statCpuMicros(readFileSync(`/proc/${pid}/stat`, 'utf8'));
}

function statusField(pid: number, name: string): number {
  const match = new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Number(match[1]) * 1024 : 0;
}

export const rssBytes = (pid: number): number => statusField(pid, 'VmRSS');
export const peakRssBytes = (pid: number): number => statusField(pid, 'VmHWM');

/** Resets VmHWM to the current RSS (clear_refs 5, Linux 4.0+); false where not permitted. */
export function resetPeakRss(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

/** Peak RSS over a window: VmHWM after a reset where allowed, else the highest VmRSS sampled. */
export function watchPeakRss(pid: number, intervalMs = 50): { stop(): number } {
  const canReset = resetPeakRss(pid);
  let sampled = rssBytes(pid);
  const timer = setInterval(() => {
    try { sampled = Math.max(sampled, rssBytes(pid)); } catch { /* the process ended; keep what we have */ }
  }, intervalMs);
  return {
    stop() {
      clearInterval(timer);
      try {
        return Math.max(sampled, canReset ? peakRssBytes(pid) : 0);
      } catch {
        return sampled;
      }
    },
  };
}

/** Machine-wide CPU time from /proc/stat, in microseconds: busy (all but idle and iowait), steal, total. */
export function machineCpuMicros(): { busy: number; steal: number; total: number } {
  const fields = (readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '').trim().split(/\s+/).slice(1).map(Number);
  const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = fields;
  const toMicros = (ticks: number) => (ticks / ticksPerSecond) * 1e6;
  return { busy: toMicros(user + nice + system + irq + softirq), steal: toMicros(steal), total: toMicros(user + nice + system + idle + iowait + irq + softirq + steal) };
}

/** CPU time of this process plus its reaped children (helpers once stopped, every wrk run), in microseconds. */
export function ownTreeCpuMicros(): number {
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14])) / ticksPerSecond) * 1e6;
}

/** CPU time per thread name (`comm`: MainThread, V8Worker for GC and compiler helpers, ...) of a process, in microseconds. */
export function threadCpuMicros(pid: number): Map<string, number> {
  const byName = new Map<string, number>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      byName.set(name, (byName.get(name) ?? 0) + statCpuMicros(stat));
    } catch { /* the thread ended between the listing and the read */ }
  }
  return byName;
}

/** `after - before` per thread name in units of `divisor` microseconds, largest first, as "MainThread 68, V8Worker 4". */
export function threadCpuSplit(before: Map<string, number>, after: Map<string, number>, divisor: number): string {
  return [...after].map(([name, micros]) => [name, (micros - (before.get(name) ?? 0)) / divisor] as const)
    .filter(([, share]) => share >= 0.5).sort((a, b) => b[1] - a[1]).map(([name, share]) => `${name} ${share.toFixed(0)}`).join(', ');
}
