import { levelOf, type Verdict } from '@tmb/core';
import type { ResultBinding, ResultSigner } from '../ear.ts';
import type { StoredReceipt } from '../store/types.ts';
import type { TelemetryService } from '../telemetry/service.ts';
import { resultBinding } from './binding.ts';
import { type HostSource, hostChecks } from './host.ts';
import { type L1State, type L1Store, l1Checks } from './l1.ts';
import { appraiseReceipt, type ReceiptResult } from './receipt.ts';

/**
 * What a verdict is composed from besides the stored receipt: store reads, the attestation
 * state and clock, the host and telemetry appraisers and the result signer. Plain interfaces:
 * the verifier passes its services (routes/read.ts), a test passes stand-ins.
 */
export interface VerdictSources {
  /** Enrolled keys and the agents' attestation state. */
  store: L1Store;
  /** The clock, inclusion deadline, pending AK enrolments, host state segments and receipt trees. */
  attest: L1State;
  /** Reference values and host measurements; absent: no host checks. */
  host?: HostSource | undefined;
  /** The telemetry.consistent check; absent: none. */
  telemetry?: Pick<TelemetryService, 'check'> | undefined;
  /** Signs the verdict as an EAR. */
  signer: Pick<ResultSigner, 'issue'>;
}

/**
 * A stored receipt's answer (docs/api.md): the verdict recomputed from its stored bytes, L0
 * (receipt.ts), L1 (l1.ts), host (host.ts) and telemetry checks in that order, its level, and
 * the EAR that signs it with its binding; `extra` adds members of the binding (a bundle's
 * evidence digest). No HTTP: the sources are arguments.
 */
export async function composeVerdict(
  sources: VerdictSources,
  stored: StoredReceipt,
  extra: Pick<ResultBinding, 'evidenceSha256'> = {},
): Promise<ReceiptResult> {
  const key = await sources.store.getKey(stored.keyId);
  const r = appraiseReceipt(stored, key);
  const l1 = await l1Checks(sources.store, sources.attest, stored, r.body);
  const checks = [...r.verdict.checks, ...l1.checks, ...(await hostChecks(sources.host, stored, r.body, l1))];
  const telemetry = await sources.telemetry?.check(r.body, checks);
  if (telemetry !== undefined) checks.push(telemetry);
  const verdict: Verdict = {
    ...r.verdict,
    ...(l1.segment ? { host: l1.segment.host } : {}),
    ...(l1.tpm ? { tpm: l1.tpm } : {}),
    checks,
    level: levelOf(checks),
    ok: checks.every((c) => c.status !== 'fail'),
  };
  const binding = await resultBinding(sources.store, stored, key, r.agentKey, l1);
  return {
    ...r,
    verdict,
    ...(l1.attestation ? { attestation: l1.attestation } : {}),
    result: await sources.signer.issue(verdict, { ...binding, ...extra }),
  };
}
