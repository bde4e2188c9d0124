// Top self-time functions of a V8 .cpuprofile (what `node --cpu-prof`
// writes), for `npm run bench -- --profile DIR`.
import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

export interface SelfTime {
  name: string;
  ms: number;
  share: number;
}

function label(cf: ProfileNode['callFrame'], root: string): string {
  const fn = cf.functionName || '(anonymous)';
  if (!cf.url) return fn;
  const url = cf.url.replace(/^file:\/\//, '').replace(root, '');
  return `${fn} ${url}:${cf.lineNumber + 1}`;
}

/** Self time per function (summed over the profile's nodes), biggest first; idle time left out of the shares. */
export function topSelfTime(file: string, n = 15, root = ''): { total: number; idle: number; rows: SelfTime[] } {
  const p = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(p.nodes.map((x) => [x.id, x]));
  const perNode = new Map<number, number>();
  for (let i = 0; i < p.samples.length; i++) perNode.set(p.samples[i]!, (perNode.get(p.samples[i]!) ?? 0) + (p.timeDeltas[i] ?? 0));
  const perName = new Map<string, number>();
  let total = 0;
  let idle = 0;
  for (const [id, us] of perNode) {
    const cf = byId.get(id)!.callFrame;
    if (cf.functionName === '(idle)') {
      idle += us;
      continue;
    }
    total += us;
    const key = label(cf, root);
    perName.set(key, (perName.get(key) ?? 0) + us);
  }
  const rows = [...perName]
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(([name, us]) => ({ name, ms: us / 1000, share: total > 0 ? us / total : 0 }));
  return { total: total / 1000, idle: idle / 1000, rows };
}

export function formatSelfTime(s: ReturnType<typeof topSelfTime>): string {
  const lines = [`busy ${s.total.toFixed(0)} ms sampled (idle ${s.idle.toFixed(0)} ms); top self time:`];
  for (const r of s.rows) lines.push(`${(r.share * 100).toFixed(1).padStart(5)}%  ${r.ms.toFixed(0).padStart(6)} ms  ${r.name}`);
  return lines.join('\n');
}
