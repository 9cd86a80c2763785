import { type Check, quoteCheck } from '@tmb/core';
import { quoteQualifyingData } from '@tmb/core/host';
import { type Checkpoint, ed25519NoteVerifier, openCheckpoint } from '@tmb/core/log';
import { type ClockInfo, parsePcrsFile, verifyQuote } from '@tmb/core/tpm';
import { KERNEL_PCR } from '../attest/kernel.ts';
import type { AgentAttest } from '../attest/state.ts';
import type { KeyRecord } from '../store/types.ts';
import type { Evidence } from './evidence.ts';

/** A quote check of the verdict (core's QUOTE_CHECK_SOURCES). */
export type { QuoteCheckName } from '@tmb/core';

/** The verdict's quote check `name` from core's checks `all`, with `detail` when it passed. */
export const fromCore = quoteCheck;

/** Why the nonce of the evidence was refused before appraisal (nonces.ts), if it was. */
export type NonceRefusal = { code: 'NONCE_UNKNOWN' | 'NONCE_REUSED'; detail: string } | undefined;

/**
 * `checkpoint.signature`: the posted note signed by a key enrolled for the agent, under its
 * origin. Newest keys first: the signer is almost always this start's key.
 */
export function openSigned(
  note: string,
  keys: readonly KeyRecord[],
  origin: string,
): { check: Check; cp: Checkpoint | null; signer: KeyRecord | undefined; keys: KeyRecord[] } {
  const newest = [...keys].sort((a, b) => b.enrolledAt - a.enrolledAt);
  let opened = openCheckpoint(note, [], origin);
  let signer: KeyRecord | undefined;
  for (const k of newest) {
    const r = openCheckpoint(note, [ed25519NoteVerifier(origin, k.key)], origin);
    if (r.ok || r.code !== 'NOTE_NO_KNOWN_SIGNER') {
      opened = r;
      if (r.ok) signer = k;
      break;
    }
    opened = r;
  }
  if (!opened.ok)
    return {
      check: { name: 'checkpoint.signature', status: 'fail', code: opened.code, detail: opened.detail },
      cp: null,
      signer,
      keys: newest,
    };
  const cp = opened.checkpoint;
  return {
    check: {
      name: 'checkpoint.signature',
      status: 'pass',
      detail: `checkpoint of size ${cp.size} signed by agent key ${signer?.keyId.slice(0, 16) ?? '?'}…`,
    },
    cp,
    signer,
    keys: newest,
  };
}

/** The qualifying data the quote must carry: SHA-256(nonce ‖ checkpoint ‖ ...), zeros when unmakeable. */
function qualifyingOf(ev: Evidence): Uint8Array {
  try {
    return quoteQualifyingData(Buffer.from(ev.nonce, 'hex'), ev.note, {
      telemetryTool: ev.telemetryTool,
      upstream: ev.upstream,
    });
  } catch {
    return new Uint8Array(32);
  }
}

/**
 * `quote.signature`, `quote.nonce`, `quote.clock` and `quote.pcr_digest` of one quote against
 * the agent's activated AK and last accepted clock. `quoted`: the sha256 PCRs of the quote when
 * its digest holds and it selects PCRs 0-10 and the agent's application PCR (else empty), and
 * `quotedPcr` the application PCR among them (null when the PCR check failed).
 */
export function quoteChecks(
  state: AgentAttest,
  ev: Evidence,
  nonceRefusal: NonceRefusal,
): {
  checks: Check[];
  clock: ClockInfo | undefined;
  quoted: Map<number, Uint8Array>;
  quotedPcr: Uint8Array | null;
} {
  const q = verifyQuote({
    attest: ev.attest,
    signature: ev.signature,
    akPublic: new Uint8Array(Buffer.from(state.akPublic, 'base64url')),
    akName: Buffer.from(state.akName, 'hex'),
    pcrs: ev.pcrs,
    requirePcrs: true,
    expectedQualifyingData: qualifyingOf(ev),
    ...(state.clock ? { previousClock: { ...state.clock, clock: BigInt(state.clock.clock) } } : {}),
  });
  const ci = q.attest?.clockInfo;
  const pcrs = pcrSelection(
    fromCore(q.checks, 'quote.pcr_digest', `PCR ${state.pcr} quoted, digest matches`),
    ev.pcrs,
    state.pcr,
  );
  const checks = [
    fromCore(q.checks, 'quote.signature', `quote signed by the activated AK ${state.akName.slice(0, 16)}…`),
    nonceRefusal
      ? { name: 'quote.nonce', status: 'fail' as const, code: nonceRefusal.code, detail: nonceRefusal.detail }
      : fromCore(q.checks, 'quote.nonce', 'qualifying data = SHA-256(fresh nonce ‖ checkpoint)'),
    fromCore(
      q.checks,
      'quote.clock',
      ci ? `clock ${ci.clock}, resetCount ${ci.resetCount}, restartCount ${ci.restartCount}` : 'no clock',
    ),
    pcrs.check,
  ];
  return { checks, clock: ci, quoted: pcrs.quoted, quotedPcr: pcrs.quotedPcr };
}

/**
 * `quote.pcr_digest` made stricter: once the digest holds, the quote must select sha256 PCRs
 * 0-10 (the kernel's and the boot's) and the agent's application PCR `pcr`.
 */
function pcrSelection(
  digest: Check,
  pcrsFile: Uint8Array,
  pcr: number,
): { check: Check; quoted: Map<number, Uint8Array>; quotedPcr: Uint8Array | null } {
  const quoted = new Map<number, Uint8Array>();
  if (digest.status !== 'pass') return { check: digest, quoted, quotedPcr: null };
  try {
    const values = parsePcrsFile(pcrsFile);
    let i = 0;
    for (const bank of values.selection)
      for (const p of bank.pcrs) {
        const d = values.digests[i];
        if (bank.hash === 'sha256' && d !== undefined) quoted.set(p, d);
        i++;
      }
  } catch {
    quoted.clear();
  }
  const missing = [...Array.from({ length: KERNEL_PCR + 1 }, (_, i) => i), pcr].filter((p) => !quoted.has(p));
  if (missing.length === 0) return { check: digest, quoted, quotedPcr: quoted.get(pcr) ?? null };
  return {
    check: {
      name: 'quote.pcr_digest',
      status: 'fail',
      code: 'QUOTE_PCR_SELECTION_MISMATCH',
      detail: `the quote must select sha256 PCRs 0-${KERNEL_PCR} and ${pcr}; it lacks ${missing.join(', ')}`,
    },
    quoted,
    quotedPcr: null,
  };
}
