import type { Check } from '@tmb/core';
import { logOrigin } from '@tmb/core/log';
import { appraiseEvidence, type Evidence } from '../appraise/evidence.ts';
import { VerifierError } from '../errors.ts';
import type { HostReferences } from '../host/checks.ts';
import type { Store } from '../store/types.ts';
import { telemetryExtensionView } from '../telemetry/extension.ts';
import type { TelemetryStore } from '../telemetry/store.ts';
import { currentRun, type RunView, viewRun } from './runs.ts';
import type { AttestService } from './service.ts';
import { type AgentAttest, loadAttest, saveAttest } from './state.ts';

/** What appraising an agent's evidence needs of the verifier. */
export interface EvidenceDeps {
  store: Store;
  attest: AttestService;
  /** The verifier's telemetry samples; absent (telemetry off): a quote's telemetry line is not checked. */
  telemetry?: TelemetryStore;
  /** Host reference values; absent: none configured. */
  refs?: HostReferences;
}

/** The outcome of one evidence post: accepted, or refused with the checks and the log-run view. */
export type EvidenceOutcome =
  | { accepted: true; checks: Check[] }
  | { accepted: false; checks: Check[]; run: RunView };

/** Where an agent's next evidence starts, with a fresh nonce (POST /v1/attest/nonce, docs/api.md). */
export interface NonceGrant {
  nonce: string;
  expiresAt: string;
  logFrom: number;
  resetCount: number | null;
  checkpointSize: number | null;
  checkpointRun: ReturnType<typeof currentRun> | null;
  kernelFrom: number;
  bootLog: boolean;
}

async function activated(store: Store, agent: string): Promise<AgentAttest> {
  const state = await loadAttest(store, agent);
  if (state === undefined)
    throw new VerifierError('AK_NOT_ENROLLED', `agent ${JSON.stringify(agent)} has no activated AK`);
  return state;
}

/**
 * A fresh single-use nonce for `agent`'s next quote, and where its evidence must start:
 * `logFrom` (measurement-log index, for TPM resetCount `resetCount`) and `checkpointSize` (the
 * latest quoted checkpoint, for the consistency proof).
 * @throws VerifierError AK_NOT_ENROLLED
 */
export async function issueNonce(store: Store, attest: AttestService, agent: string): Promise<NonceGrant> {
  const state = await activated(store, agent);
  const { nonce, expiresAt } = await attest.nonces.issue(agent);
  return {
    nonce,
    expiresAt: new Date(expiresAt).toISOString(),
    logFrom: state.ima?.nextIndex ?? 0,
    resetCount: state.ima?.resetCount ?? null,
    checkpointSize: state.checkpoint?.size ?? null,
    // The log run that size is of (docs/evidence.md, "Log runs and recovery").
    checkpointRun: state.checkpoint === null ? null : currentRun(state),
    // The kernel log from here (for TPM resetCount `resetCount`; from 0 after a reboot), and
    // whether to send the boot log: none accepted for this boot yet.
    kernelFrom: state.kernel?.ima.nextIndex ?? 0,
    bootLog: state.kernel?.boot?.check.status !== 'pass',
  };
}

/**
 * Appraises `agent`'s quote over a checkpoint (docs/evidence.md) and, once every check passed,
 * makes the checkpoint its latest quoted one, records the host segment it judges and its share
 * of the offline bundles. The nonce is spent either way. Load, appraise and save run alone for
 * the agent (lock.ts): two posts never fold from one state. `read` parses the evidence: it is
 * called once the agent is known to have an activated AK.
 * @throws VerifierError AK_NOT_ENROLLED, and what `read` throws
 */
export function acceptEvidence(
  d: EvidenceDeps,
  agent: string,
  read: () => Evidence,
): Promise<EvidenceOutcome> {
  return d.attest.lock
    .run(agent, () => appraiseAndSave(d, agent, read))
    .catch((err: unknown) => {
      // Its bundle row may have been written and then not committed (PostgreSQL: one transaction).
      d.attest.bundles.forget(agent);
      throw err;
    });
}

async function appraiseAndSave(
  d: EvidenceDeps,
  agent: string,
  read: () => Evidence,
): Promise<EvidenceOutcome> {
  // Reads that do not wait for each other are issued together: under PostgreSQL's agent lock they
  // share its connection, and postgres.js sends statements issued at once in one write
  // (store/pg-route.ts). The keys are read before the AK is known to be activated: harmless.
  const [state, keys] = await Promise.all([activated(d.store, agent), d.store.agentKeys(agent)]);
  const ev = read();
  const [nonceRefusal, run, tlines] = await Promise.all([
    d.attest.nonces.consume(agent, ev.nonce),
    // Grow the verifier's own tree of this agent's receipts, in the checkpoint's log run, to the
    // size the note claims, if it parses (runs.ts). Only reads and the tree's growth, which any
    // reader may make: done whatever the nonce's answer.
    viewRun({
      store: d.store,
      trees: d.attest.trees,
      agent,
      state,
      note: ev.note,
      now: d.attest.now(),
    }),
    // The telemetry line's answer is read ahead: the appraisal itself is synchronous.
    d.telemetry ? telemetryExtensionView(d.telemetry, agent, ev.note) : undefined,
  ]);
  const { checks, next, segment } = appraiseEvidence({
    state,
    ev,
    nonceRefusal,
    keys,
    origin: logOrigin(agent),
    treeRoot: () => run.root,
    logRun: run,
    ...(tlines ? { telemetry: tlines } : {}),
    refs: { policy: d.refs?.policy ?? null, registry: d.refs?.registry ?? null },
    bootPolicy: d.refs?.boot ?? null,
  });
  if (next === null || segment === null) return { accepted: false, checks, run };
  // What the host was when this quote was taken judges the receipts it newly covers. The
  // agent's own log binds keys only: weights, engine and agent build come from the kernel's.
  // Recorded before the quoted checkpoint is saved: a reader who sees a receipt covered must
  // find the segment that judges it (the other order let a verdict read in between skip every
  // host check of that receipt). Where the lock commits the run's writes at its end (PostgreSQL:
  // lock.ts AgentLock.atomic) they go out at once: the segment (a compare-and-set row, committed
  // as made) is still seen before the state and the bundle row, which commit with the run.
  // The offline bundle's share of this quote (docs/bundle.md): keys by the ids the state names.
  const keyOf = (id: string | undefined) => keys.find((k) => k.keyId === id)?.key ?? null;
  const signer = keyOf(next.checkpoint?.keyId);
  const writes = [
    () => d.attest.segments.record(agent, segment),
    () => saveAttest(d.store, agent, next, state),
    () =>
      signer === null
        ? undefined
        : d.attest.bundles.record(agent, ev, state, next, signer, keyOf(state.checkpoint?.keyId)),
  ];
  if (d.attest.lock.atomic === true) await Promise.all(writes.map((w) => w()));
  else for (const w of writes) await w();
  return { accepted: true, checks };
}
