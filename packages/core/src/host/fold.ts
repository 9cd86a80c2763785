import { toHex } from '../bytes/encoding.ts';
import { sha256 } from '../crypto/hash.ts';
import { SIMULATED_KERNEL_EVENT } from '../ima/events.ts';
import { EXCLUDED, failureDetail, judge, PASSED } from '../ima/judge.ts';
import type { ImaEntry } from '../ima/types.ts';
import type { EntryFinding, KernelFacts, KernelRefs } from './types.ts';

/** The kernel's first entry: SHA-256 of the sha256 bank's PCRs 0-9 (kernels >= 5.8, TPM 2.0). */
export const BOOT_AGGREGATE = 'boot_aggregate';
/** The simulated kernel's entry 1 (core/ima/events.ts; docs/ima.md): the verdict then names `kernel: simulated`. */
export { SIMULATED_KERNEL_EVENT };
/** The agent build's entry file, relative to `packages/`: its measurement shows the agent ran. */
export const AGENT_ENTRY_FILE = 'agent/src/agent.ts';
/** Most members of each list in KernelFacts: past it the list stops growing (state stays bounded). */
export const MAX_LISTED = 64;

/** Facts before the first entry of a boot. */
export function emptyKernelFacts(): KernelFacts {
  return {
    entries: 0,
    kind: 'ima',
    aggregate: false,
    failure: null,
    weights: [],
    weightPaths: {},
    engines: [],
    agentEntry: false,
    agentFailure: null,
    tools: {},
    toolPath: null,
  };
}

/** Options of foldKernel(). */
export interface FoldOptions {
  /** Hex SHA-256 over the quoted sha256 PCRs 0-9 (`bootAggregate` of @tmb/core/boot). */
  bootAggregate: string;
  /** The telemetry tool path the evidence declares (null: none). */
  toolPath: string | null;
}

/**
 * Folds kernel entries a quote covered into one boot's facts (pure: returns new facts).
 * Entries below `facts.entries` are skipped. Each entry must be allowed: entry 0 is
 * `boot_aggregate` equal to `o.bootAggregate`; entry 1 may be the simulated kernel's event;
 * any other entry is allowed by the registry (a registered weights file, engine executable or
 * telemetry tool by digest; an agent-build file by path and digest) or by the Keylime runtime
 * policy (its excludes, digests per path; a violation only where excluded). The first entry
 * that is not becomes `failure` (HOST_FILE_NOT_ALLOWED without a policy, else the policy's
 * code) and stays: the host is untrusted until a reboot. Never throws for bad entries.
 */
export function foldKernel(
  facts: KernelFacts,
  entries: readonly ImaEntry[],
  refs: KernelRefs,
  o: FoldOptions,
): KernelFacts {
  const f: KernelFacts = structuredClone(facts);
  f.weightPaths ??= {}; // states stored before it
  if (o.toolPath !== null) f.toolPath = o.toolPath;
  for (const e of entries) {
    if (e.index < f.entries) continue;
    f.entries = e.index + 1;
    foldEntry(f, e, refs, o);
  }
  return f;
}

/** foldKernel's rule for one entry (f.entries already moved past it). @internal shared with foldKernelColumns */
export function foldEntry(f: KernelFacts, e: ImaEntry, refs: KernelRefs, o: FoldOptions): void {
  const reg = refs.registry;
  const path = e.path;
  const hex = e.digest;
  const digest = `${e.digestAlg}:${hex}`;
  const fail = (code: EntryFinding['code'], why: string) => {
    f.failure ??= { index: e.index, path, digest, code, detail: `#${e.index} ${path} ${digest}: ${why}` };
  };
  if (e.index === 0) {
    if (path !== BOOT_AGGREGATE || e.violation || e.template === 'ima-buf')
      fail('BOOT_AGGREGATE_MISMATCH', 'entry 0 is not boot_aggregate');
    else if (e.digestAlg !== 'sha256' || hex !== o.bootAggregate)
      fail(
        'BOOT_AGGREGATE_MISMATCH',
        `boot_aggregate is not SHA-256 of the quoted PCRs 0-9 (${o.bootAggregate})`,
      );
    else f.aggregate = true;
    return;
  }
  if (path === SIMULATED_KERNEL_EVENT && e.template === 'ima-buf') {
    const buf = e.extra;
    if (e.index === 1 && buf !== null && !e.violation && toHex(sha256(buf)) === hex) f.kind = 'simulated';
    else fail('HOST_FILE_NOT_ALLOWED', 'a simulated-kernel event is allowed only as entry 1');
    return;
  }
  if (f.toolPath !== null && path === f.toolPath) setTool(f, path, digest);
  // The path's last measurement counts: re-added below when it is registered weights again.
  if (Object.hasOwn(f.weightPaths, path)) Reflect.deleteProperty(f.weightPaths, path);
  if (!e.violation && reg !== null) {
    const rel = agentRel(path, reg.agentTrees);
    if (rel !== null) {
      if (reg.agentFiles.get(rel)?.has(digest)) {
        if (rel === AGENT_ENTRY_FILE) f.agentEntry = true;
        return;
      }
      f.agentFailure ??= {
        index: e.index,
        path,
        digest,
        code: 'AGENT_BUILD_NOT_ALLOWED',
        detail: `#${e.index} ${path} ${digest}: no allowed agent build has this file (${rel})`,
      };
    } else {
      const owners = reg.weightOwners.get(digest);
      if (owners !== undefined) {
        if (!f.weights.includes(digest) && f.weights.length < MAX_LISTED) f.weights.push(digest);
        setWeightPath(f, path, digest);
        return;
      }
      const engines = reg.engineOwners.get(digest);
      if (engines !== undefined) {
        for (const n of engines)
          if (!f.engines.includes(n) && f.engines.length < MAX_LISTED) f.engines.push(n);
        return;
      }
      if (reg.toolOwners.has(digest)) {
        setTool(f, path, digest);
        return;
      }
    }
  }
  if (f.failure !== null) return; // the first failure is what the verdict names
  const p = refs.policy;
  if (p === null) {
    fail(
      'HOST_FILE_NOT_ALLOWED',
      e.violation
        ? 'violation entry (all-zero template hash): its content is not measured'
        : 'neither the runtime policy nor the registry allows it',
    );
    return;
  }
  const v = judge(p, 10, false, e.pcr, e.template, e.violation, path, e);
  if (v !== PASSED && v !== EXCLUDED)
    fail(v, `${failureDetail(v, e.pcr, 10)}, and the registry does not allow it`);
}

/** Records a tool digest at a path (bounded). @internal shared with foldKernelColumns */
export function setTool(f: KernelFacts, path: string, digest: string): void {
  if (Object.hasOwn(f.tools, path) || Object.keys(f.tools).length < MAX_LISTED) f.tools[path] = digest;
}

/** Records the weights digest measured at a path (bounded). @internal shared with foldKernelColumns */
export function setWeightPath(f: KernelFacts, path: string, digest: string): boolean {
  if (!Object.hasOwn(f.weightPaths, path) && Object.keys(f.weightPaths).length >= MAX_LISTED) return false;
  f.weightPaths[path] = digest;
  return true;
}

/**
 * The path relative to `packages/` of a measured file that lies in an agent build tree (the
 * part after the last `/packages/`, when it starts with one of `trees`), else null.
 */
export function agentRel(path: string, trees: readonly string[]): string | null {
  if (trees.length === 0) return null;
  const at = path.lastIndexOf('/packages/');
  if (at < 0) return null;
  const rel = path.slice(at + '/packages/'.length);
  return trees.some((t) => rel.startsWith(`${t}/`)) ? rel : null;
}
