import { agentKeyId, sha256, toHex } from '@tmb/core';
import {
  AGENT_BUILD_EVENT,
  AGENT_KEY_EVENT,
  appraise,
  type CompiledPolicy,
  HOST_ROLES,
  type HostRole,
  type ImaEntry,
  MANIFEST_EVENT,
  ROLE_EVENT,
} from '@tmb/core/ima';

/** Most agent starts (key ids) kept per agent; the oldest are dropped past it. */
export const MAX_RUNS = 256;
/** Most digests kept per role per run: a file swapped more often than this is a fault anyway. */
const MAX_DIGESTS = 64;

/**
 * What one agent start (one signing key) measured, from its `tmb.agent-key` event to the next
 * one. Digests are `<algo>:<hex>`, in log order, each once. Every digest ever measured for a
 * role is kept: a receipt does not say when in the run it was served, so a swap of weights
 * during a run makes every receipt of that run be appraised against both (docs/registry.md).
 */
export interface HostRun {
  weights: string[];
  engine: string[];
  engineConfig: string[];
  agentBuild: string[];
  /** Keylime policy failures among the run's file entries (`#index path: CODE`), at most 10, and their count. */
  policyFailures: string[];
  policyFailed: number;
  policyAppraised: number;
}

/** A fold over one measurement log: where it stands and the runs found so far. Plain JSON. */
export interface HostLedger {
  /** TPM resetCount of the boot the log belongs to (null for an asserted log). */
  resetCount: number | null;
  /** Index of the next entry expected. */
  nextIndex: number;
  /** Key id of the run entries are attributed to now (null before the first key event). */
  key: string | null;
  /** Absolute path to its role, declared in the current run. */
  roles: Record<string, HostRole>;
  runs: Record<string, HostRun>;
  /** Key ids in the order their runs started (to drop the oldest past MAX_RUNS). */
  order: string[];
}

/** An empty ledger. */
export function emptyLedger(resetCount: number | null = null): HostLedger {
  return { resetCount, nextIndex: 0, key: null, roles: {}, runs: {}, order: [] };
}

const emptyRun = (): HostRun => ({
  weights: [],
  engine: [],
  engineConfig: [],
  agentBuild: [],
  policyFailures: [],
  policyFailed: 0,
  policyAppraised: 0,
});

/**
 * Folds appraised measurement-log entries into a ledger (pure: returns a new one). Entries
 * before `nextIndex` are skipped (a delta may repeat entries already folded), so a caller may
 * pass every entry a quote covered. A new `resetCount` (a reboot) starts the log over; runs of
 * earlier boots are kept under their keys. Entries before the first key event and violations
 * are ignored (a violation binds nothing). With `policy`, each file entry (not ima-buf: the
 * agent's events change with every start) is appraised against the Keylime policy.
 */
export function foldEntries(
  ledger: HostLedger,
  entries: readonly ImaEntry[],
  o: { resetCount?: number | null; policy?: CompiledPolicy | null } = {},
): HostLedger {
  const resetCount = o.resetCount === undefined ? ledger.resetCount : o.resetCount;
  const l: HostLedger = structuredClone(ledger);
  if (resetCount !== l.resetCount) Object.assign(l, { resetCount, nextIndex: 0, key: null, roles: {} });
  for (const e of entries) {
    if (e.index < l.nextIndex) continue;
    l.nextIndex = e.index + 1;
    if (e.violation) continue;
    const digest = `${e.digestAlg}:${e.digest}`;
    const path = e.path;
    if (e.template === 'ima-buf' && path === AGENT_KEY_EVENT) {
      const key = e.extra;
      if (key === null || key.length !== 32 || toHex(sha256(key)) !== e.digest) continue;
      l.key = agentKeyId(key);
      l.roles = {};
      if (l.runs[l.key] === undefined) {
        l.runs[l.key] = emptyRun();
        l.order.push(l.key);
        while (l.order.length > MAX_RUNS) delete l.runs[l.order.shift()!];
      }
      continue;
    }
    const run = l.key === null ? undefined : l.runs[l.key];
    if (run === undefined) continue;
    if (e.template === 'ima-buf') {
      if (path === AGENT_BUILD_EVENT) add(run.agentBuild, digest);
      else if (path.startsWith(ROLE_EVENT)) {
        const role = path.slice(ROLE_EVENT.length) as HostRole;
        const extra = e.extra;
        if (HOST_ROLES.includes(role) && extra !== null) l.roles[new TextDecoder().decode(extra)] = role;
      } else if (path.startsWith(MANIFEST_EVENT))
        record(run, l.roles[path.slice(MANIFEST_EVENT.length)], digest);
      continue;
    }
    record(run, l.roles[path], digest);
    if (o.policy) {
      run.policyAppraised++;
      for (const f of appraise([e], o.policy, { pcrIndex: null }).failures) {
        run.policyFailed++;
        if (run.policyFailures.length < 10) run.policyFailures.push(`#${f.index} ${f.path}: ${f.code}`);
      }
    }
  }
  return l;
}

function record(run: HostRun, role: HostRole | undefined, digest: string): void {
  if (role === 'weights') add(run.weights, digest);
  else if (role === 'engine') add(run.engine, digest);
  else if (role === 'engine-config') add(run.engineConfig, digest);
}

function add(list: string[], digest: string): void {
  if (!list.includes(digest) && list.length < MAX_DIGESTS) list.push(digest);
}
