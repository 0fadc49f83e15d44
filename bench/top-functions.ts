// Prints where a V8 .cpuprofile (node --cpu-prof) spent its time: the top functions by self time,
// and the project's own functions (src/, or dist/ as npm start runs them) by total time (self plus callees, each sample counted once).
// Usage: node bench/top-functions.ts <file.cpuprofile> [--top 25]
import { readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';

interface ProfileNode { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; children?: number[] }
interface CpuProfile { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[] }

export interface FunctionTime { name: string; location: string; selfMs: number; totalMs: number }

const meta = new Set(['(idle)', '(program)', '(garbage collector)', '(root)']);

function location(url: string, line: number): string {
  if (!url) return '';
  const path = url.startsWith('file://') ? relative(process.cwd(), fileURLToPath(url)) : url;
  return `${path.replace(/^.*node_modules\//, 'node_modules/')}:${line + 1}`;
}

export function analyseProfile(profile: CpuProfile): { functions: FunctionTime[]; totalMs: number; metaMs: Record<string, number> } {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const keyOf = (node: ProfileNode) => `${node.callFrame.functionName || '(anonymous)'}\t${location(node.callFrame.url, node.callFrame.lineNumber)}`;
  const self = new Map<string, number>();
  const total = new Map<string, number>();
  const metaMs: Record<string, number> = {};
  let totalMs = 0;
  profile.samples.forEach((id, i) => {
    const ms = (profile.timeDeltas[i + 1] ?? profile.timeDeltas[i] ?? 0) / 1000;
    const node = byId.get(id);
    if (!node) return;
    totalMs += ms;
    if (meta.has(node.callFrame.functionName)) {
      metaMs[node.callFrame.functionName] = (metaMs[node.callFrame.functionName] ?? 0) + ms;
      return;
    }
    const key = keyOf(node);
    self.set(key, (self.get(key) ?? 0) + ms);
    const seen = new Set<string>();
    for (let at: ProfileNode | undefined = node; at; at = byId.get(parent.get(at.id) ?? -1)) {
      const frame = keyOf(at);
      if (seen.has(frame)) continue;
      seen.add(frame);
      total.set(frame, (total.get(frame) ?? 0) + ms);
    }
  });
  const functions = [...total].map(([key, totalTime]) => {
    const [name = '', where = ''] = key.split('\t');
    return { name, location: where, selfMs: self.get(key) ?? 0, totalMs: totalTime };
  });
  return { functions, totalMs, metaMs };
}

export function formatTopFunctions(file: string, top = 25): string {
  const { functions, totalMs, metaMs } = analyseProfile(JSON.parse(readFileSync(file, 'utf8')) as CpuProfile);
  const pct = (ms: number) => `${((ms / totalMs) * 100).toFixed(1).padStart(5)} %`;
  const busyMs = totalMs - (metaMs['(idle)'] ?? 0);
  const lines = [`${file}: ${(totalMs / 1000).toFixed(1)} s sampled, ${(busyMs / 1000).toFixed(1)} s busy; `
    + Object.entries(metaMs).map(([name, ms]) => `${name} ${pct(ms).trim()}`).join(', '), '', 'Top self time:'];
  for (const fn of [...functions].sort((a, b) => b.selfMs - a.selfMs).slice(0, top)) {
    lines.push(`  ${pct(fn.selfMs)}  ${fn.selfMs.toFixed(0).padStart(7)} ms  ${fn.name}  ${fn.location}`);
  }
  lines.push('', 'Project functions (src/, run as dist/) by total time:');
  const own = functions.filter((fn) => fn.location.startsWith('src/') || fn.location.startsWith('dist/')).sort((a, b) => b.totalMs - a.totalMs).slice(0, top);
  for (const fn of own) lines.push(`  ${pct(fn.totalMs)}  ${fn.totalMs.toFixed(0).padStart(7)} ms total  ${fn.selfMs.toFixed(0).padStart(6)} ms self  ${fn.name}  ${fn.location}`);
  return lines.join('\n');
}

if (import.meta.main) {
  const [file, flag, count] = process.argv.slice(2);
  if (!file) {
    process.stderr.write('usage: node bench/top-functions.ts <file.cpuprofile> [--top 25]\n');
    process.exit(2);
  }
  process.stdout.write(`${formatTopFunctions(file, flag === '--top' ? Number(count) : 25)}\n`);
}
