/**
 * Top self-time functions of a V8 CPU profile (`node --cpu-prof` output): what the scale bench
 * prints, to standard error, for each verifier process run with `--cpu-prof DIR`.
 */
import { readFile } from 'node:fs/promises';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

function label(n: ProfileNode): string {
  const f = n.callFrame;
  const file = f.url.replace(/^.*\/(packages|node_modules|bench)\//, '$1/');
  return `${f.functionName || '(anonymous)'} ${file}:${f.lineNumber + 1}`;
}

/**
 * The `top` functions by self time in the profile at `path`: name, place and share of samples.
 * `by: 'project'` charges each sample to the nearest frame in packages/ instead (so native calls
 * such as node:sqlite's `run` count for the store function that made them).
 */
export async function topSelfTime(
  path: string,
  top = 15,
  by: 'self' | 'project' = 'self',
): Promise<{ fn: string; share: number }[]> {
  const p = JSON.parse(await readFile(path, 'utf8')) as CpuProfile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const charged = (id: number): ProfileNode | undefined => {
    if (by === 'self') return byId.get(id);
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const n = byId.get(at);
      if (n?.callFrame.url.includes('/packages/')) return n;
    }
    return byId.get(id);
  };
  const selfUs = new Map<string, number>();
  let total = 0;
  p.samples.forEach((id, i) => {
    const n = charged(id);
    const dt = p.timeDeltas[i] ?? 0;
    if (n === undefined) return;
    const key = label(n);
    selfUs.set(key, (selfUs.get(key) ?? 0) + dt);
    total += dt;
  });
  return [...selfUs.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([fn, us]) => ({ fn, share: Math.round((us / total) * 1000) / 10 }));
}

/**
 * Share (%) of the samples of the profile at `path` whose stack holds a function named in `names`
 * (its inclusive time: what it and everything it called cost).
 */
export async function inclusiveShare(path: string, names: readonly string[]): Promise<number> {
  const p = JSON.parse(await readFile(path, 'utf8')) as CpuProfile;
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const wanted = new Set(names);
  const hit = new Map<number, boolean>();
  const under = (id: number): boolean => {
    const known = hit.get(id);
    if (known !== undefined) return known;
    const n = p.nodes.find((x) => x.id === id);
    const up = parent.get(id);
    const h = (n !== undefined && wanted.has(n.callFrame.functionName)) || (up !== undefined && under(up));
    hit.set(id, h);
    return h;
  };
  let total = 0;
  let inside = 0;
  p.samples.forEach((id, i) => {
    const dt = p.timeDeltas[i] ?? 0;
    total += dt;
    if (under(id)) inside += dt;
  });
  return total === 0 ? 0 : Math.round((inside / total) * 1000) / 10;
}
