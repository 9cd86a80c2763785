import type { CompiledRegistry } from '../registry/types.ts';
import type { Check } from '../verdict/types.ts';
import { MAX_LISTED } from './fold.ts';
import type { KernelFacts, SegmentUpstream } from './types.ts';
import { registeredModel } from './weights.ts';

/** Bounds on evidence `upstream` (docs/evidence.md): past them the verifier refuses the body. */
export const UPSTREAM_LIMITS = { processes: 16, files: 256, path: 4096, reason: 1024 } as const;

/** Evidence `upstream` as posted (docs/evidence.md, docs/upstream.md), parsed. Untrusted. */
export interface UpstreamEvidence {
  kind: 'local' | 'remote' | 'none';
  reason?: string;
  processes: { pid: number; exe: string | null; files: string[] }[];
}

/** The kernel's suffix of an unlinked file's path: its content cannot be compared by path. */
const DELETED = ' (deleted)';

/**
 * What a segment keeps of the evidence's upstream (pure): the holders' executables and the held
 * files the kernel measured as registered weights at that very path (`facts.weightPaths`, up to
 * this quote). A held path with the ` (deleted)` suffix never matches.
 */
export function upstreamSegment(
  u: UpstreamEvidence | null,
  facts: KernelFacts | null,
): SegmentUpstream | null {
  if (u === null) return null;
  const exes = [...new Set(u.processes.map((p) => p.exe ?? '(unknown)'))].sort();
  const measured = facts?.weightPaths ?? {};
  const weights = new Map<string, string>();
  for (const p of u.processes)
    for (const file of p.files) {
      if (file.endsWith(DELETED) || !Object.hasOwn(measured, file)) continue;
      if (weights.size < MAX_LISTED) weights.set(file, measured[file]!);
    }
  return {
    kind: u.kind,
    ...(u.reason !== undefined ? { reason: u.reason } : {}),
    exes,
    weights: [...weights].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)),
  };
}

const short = (d: string) => `${d.slice(0, d.indexOf(':') + 17)}…`;

/**
 * `host.upstream` of one receipt from the segment judging it (docs/result.md): the agent's
 * upstream is a local process that holds at least one file the kernel measured as registered
 * weights at that path, and every such file is an allowed build of the model the receipt asked
 * for. Fail UPSTREAM_NOT_LOCAL (remote, or nothing local identified), UPSTREAM_WEIGHTS_NOT_MEASURED
 * (no held file is weights this host's kernel measured), UPSTREAM_WEIGHTS_NOT_ALLOWED (naming
 * whose weights), MODEL_UNKNOWN; skipped when the evidence had no upstream or the request names
 * no model.
 */
export function upstreamCheck(
  model: string | null,
  u: SegmentUpstream | null | undefined,
  reg: CompiledRegistry,
): Check {
  const name = 'host.upstream';
  if (u === null || u === undefined)
    return {
      name,
      status: 'skipped',
      detail: 'the evidence of the quote judging this receipt named no upstream',
    };
  if (u.kind !== 'local')
    return {
      name,
      status: 'fail',
      code: 'UPSTREAM_NOT_LOCAL',
      detail:
        u.kind === 'remote'
          ? `the agent's upstream is not on this host (${u.reason ?? 'remote'}): its weights cannot be seen`
          : `no local process was identified as the agent's upstream (${u.reason ?? 'no reason given'})`,
    };
  const exes = u.exes.length === 0 ? 'no process' : u.exes.slice(0, 4).join(', ');
  if (u.weights.length === 0)
    return {
      name,
      status: 'fail',
      code: 'UPSTREAM_WEIGHTS_NOT_MEASURED',
      detail: `the upstream's processes (${exes}) hold no file this host's kernel measured as registered weights`,
    };
  const m = registeredModel(name, model, reg);
  if ('check' in m) return m.check;
  const { entry } = m;
  const foreign = u.weights.filter(([, d]) => !entry.weights.includes(d));
  if (foreign.length > 0) {
    const whose = foreign
      .slice(0, 4)
      .map(
        ([p, d]) =>
          `${p} ${short(d)} (weights of ${(reg.weightOwners.get(d) ?? ['no registered model']).join(', ')})`,
      );
    return {
      name,
      status: 'fail',
      code: 'UPSTREAM_WEIGHTS_NOT_ALLOWED',
      detail: `the upstream's processes (${exes}) hold weights not allowed for ${JSON.stringify(model)}: ${whose.join(', ')}`,
    };
  }
  return {
    name,
    status: 'pass',
    detail: `the upstream's processes (${exes}) hold ${u.weights
      .slice(0, 4)
      .map(([p]) => p)
      .join(
        ', ',
      )}${u.weights.length > 4 ? ', …' : ''}, measured by the kernel as an allowed build of ${JSON.stringify(model)}`,
  };
}
