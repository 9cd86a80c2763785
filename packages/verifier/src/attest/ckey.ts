import { type Check, fromBase64Url, fromHex, toBase64Url, toHex } from '@tmb/core';
import { openNote } from '@tmb/core/log';
import {
  type CheckpointKeyMember,
  checkpointKeyQualifying,
  checkpointNoteVerifier,
  tpmName,
  verifyCertify,
} from '@tmb/core/tpm';
import { VerifierError } from '../errors.ts';
import type { Store } from '../store/types.ts';
import type { AttestService } from './service.ts';
import { type CertifiedKey, loadAttest, saveAttest } from './state.ts';

/** How many certified checkpoint keys an agent keeps (one per start): receipts of older starts keep key.bound. */
export const MAX_CHECKPOINT_KEYS = 64;

/** A checkpoint-key request, parsed (docs/evidence.md, "The checkpoint key"). */
export interface CheckpointKeyRequest {
  /** 64 lower-case hex digits: a nonce of POST /v1/attest/nonce. */
  nonce: string;
  /** 64 lower-case hex digits: the receipt key this start's checkpoints are signed with. */
  receiptKeyId: string;
  keyPublic: Uint8Array;
  certifyInfo: Uint8Array;
  signature: Uint8Array;
}

/** The outcome of a checkpoint-key certification: refused with the named checks, or the key's name. */
export type CheckpointKeyOutcome = { ok: false; checks: Check[] } | { ok: true; keyName: string };

/**
 * Keeps `agent`'s TPM-held checkpoint key for this start, certified by its activated AK
 * (TPM2_Certify) over SHA-256(nonce ‖ "tmb.checkpoint-key.v1\n" ‖ agent ‖ "\n" ‖ receiptKeyId)
 * with a nonce this verifier issued (single use). Every check of core verifyCertify must pass,
 * else ok false with the checks. Runs under the agent's lock (lock.ts). `read` parses the
 * request: it is called once the agent is known to have an activated AK.
 * @throws VerifierError AK_NOT_ENROLLED | CHECKPOINT_KEY_EXISTS (a key is already certified
 *   under this AK activation in this boot), and what `read` throws
 */
export function certifyCheckpointKey(
  store: Store,
  attest: AttestService,
  agent: string,
  read: () => CheckpointKeyRequest,
): Promise<CheckpointKeyOutcome> {
  return attest.lock.run(agent, () => certifyLocked(store, attest, agent, read)); // lock.ts
}

async function certifyLocked(
  store: Store,
  attest: AttestService,
  agent: string,
  read: () => CheckpointKeyRequest,
): Promise<CheckpointKeyOutcome> {
  const state = await loadAttest(store, agent);
  if (state === undefined)
    throw new VerifierError('AK_NOT_ENROLLED', `agent ${JSON.stringify(agent)} has no activated AK`);
  const { nonce, receiptKeyId, keyPublic, certifyInfo, signature } = read();
  const refusal = await attest.nonces.consume(agent, nonce);
  const r = verifyCertify({
    keyPublic,
    certifyInfo,
    signature,
    akPublic: fromBase64Url(state.akPublic),
    expectedQualifyingData: checkpointKeyQualifying(fromHex(nonce), agent, receiptKeyId),
  });
  const checks: Check[] = [
    refusal === undefined
      ? {
          name: 'tpm.certify.fresh',
          status: 'pass',
          detail: 'a nonce this verifier issued to the agent, used once',
        }
      : { name: 'tpm.certify.fresh', status: 'fail', code: refusal.code, detail: refusal.detail },
    ...r.checks,
  ];
  if (!r.ok || refusal !== undefined || r.key === null || r.attest === null) return { ok: false, checks };
  // One checkpoint key per AK activation and boot (one per agent start): a process that gets the
  // agent's token later cannot add a key of its own without enrolling again, which replaces the
  // AK and breaks the running agent's quotes.
  const resetCount = r.attest.clockInfo.resetCount;
  const current = (state.checkpointKeys ?? []).find(
    (k) => k.akName === state.akName && k.certifiedAt >= state.activatedAt && k.resetCount === resetCount,
  );
  if (current !== undefined)
    throw new VerifierError(
      'CHECKPOINT_KEY_EXISTS',
      `a checkpoint key (${current.keyName.slice(0, 20)}…) is already certified under this AK activation in this boot`,
    );
  const keyName = toHex(tpmName(r.key));
  const entry: CertifiedKey = {
    keyName,
    keyPublic: toBase64Url(keyPublic),
    receiptKeyId,
    certifiedAt: Date.now(),
    resetCount,
    akName: state.akName,
    certify: { attest: toBase64Url(certifyInfo), signature: toBase64Url(signature), nonce },
  };
  const kept = (state.checkpointKeys ?? []).filter((k) => k.keyName !== keyName);
  await saveAttest(
    store,
    agent,
    {
      ...state,
      checkpointKeys: [...kept, entry].slice(-MAX_CHECKPOINT_KEYS),
    },
    state,
  );
  return { ok: true, keyName };
}

/** The `tpm-p256` member of a certified key (answers' attestation.tpmKey, bundles). */
export function checkpointKeyMember(k: CertifiedKey): CheckpointKeyMember {
  return {
    type: 'tpm-p256',
    public: k.keyPublic,
    certify: { ...k.certify, receiptKeyId: k.receiptKeyId },
  };
}

/**
 * `key.bound` of a round of evidence: passes only when the checkpoint note carries a valid
 * signature by a TPM key the agent's AK certified (POST /v1/attest/checkpoint-key, fresh nonce)
 * for the receipt key that signed the checkpoint (`receiptKeyId`), certified in the boot of this
 * quote (same resetCount). A `tmb.agent-key` measurement does not count: any root process can
 * extend a PCR. Returns the check and the key that bound it.
 */
export function keyBoundCheck(
  keys: readonly CertifiedKey[] | undefined,
  note: string,
  origin: string,
  receiptKeyId: string | undefined,
  resetCount: number | undefined,
): { check: Check; key: CertifiedKey | null } {
  if (receiptKeyId === undefined)
    return {
      check: { name: 'key.bound', status: 'skipped', detail: 'no verified checkpoint signer' },
      key: null,
    };
  const mine = (keys ?? []).filter((k) => k.receiptKeyId === receiptKeyId);
  let signedBy: CertifiedKey | null = null;
  for (const k of [...mine].reverse()) {
    let ok = false;
    try {
      ok = openNote(note, [checkpointNoteVerifier(origin, checkpointKeyMember(k))]).ok;
    } catch {
      ok = false;
    }
    if (ok) {
      signedBy = k;
      break;
    }
  }
  const id = receiptKeyId.slice(0, 16);
  if (signedBy === null)
    return {
      check: {
        name: 'key.bound',
        status: 'fail',
        code: 'KEY_NOT_BOUND',
        detail: `the checkpoint carries no valid signature by a TPM key the AK certified for receipt key ${id}… (${mine.length} certified for it)`,
      },
      key: null,
    };
  if (resetCount !== undefined && signedBy.resetCount !== resetCount)
    return {
      check: {
        name: 'key.bound',
        status: 'fail',
        code: 'CERTIFY_RESET_COUNT_MISMATCH',
        detail: `the TPM key ${signedBy.keyName.slice(0, 20)}… was certified at resetCount ${signedBy.resetCount}, the quote is at ${resetCount}`,
      },
      key: null,
    };
  return {
    check: {
      name: 'key.bound',
      status: 'pass',
      detail: `checkpoint signed by TPM key ${signedBy.keyName.slice(0, 20)}…, certified by AK ${signedBy.akName.slice(0, 16)}… for receipt key ${id}…`,
    },
    key: signedBy,
  };
}
