import { agentKeyId, CoreError, toBase64Url } from '@tmb/core';
import { logOrigin, openNote } from '@tmb/core/log';
import {
  type CheckpointKeyMember,
  checkpointNoteVerifier,
  type TpmPublic,
  verifyCheckpointKey,
} from '@tmb/core/tpm';
import type { ClientCheck } from '../types.ts';
import { Memo } from './memo.ts';

// One checkpoint key per agent start serves every receipt of that start: its certification
// (a pure function of the member, the AK and the agent name) and its note verifier are
// derived once (bench/bundle.bench.ts).
const certified = new Memo<ReturnType<typeof verifyCheckpointKey>>(64);
const verifiers = new Memo<ReturnType<typeof checkpointNoteVerifier>>(64);

/**
 * key.bound of a bundle: the checkpoint is co-signed by a TPM-held key that the AK certified
 * (TPM2_Certify, core verifyCheckpointKey) for the agent key that signed the checkpoint, in the
 * boot of the quote (same resetCount). A `tmb.agent-key` event in the measurement log does not
 * count: any root process can extend a PCR. That the certification's nonce was fresh is the
 * verifier's word (it issued it once). Never throws.
 */
export function keyBoundCheck(o: KeyBoundInput): ClientCheck {
  const key = JSON.stringify([
    o.member,
    o.note,
    o.agent,
    toBase64Url(o.checkpointKey),
    o.akText,
    o.resetCount,
  ]);
  return { ...bound.get(key, () => keyBoundOf(o)) };
}

/** What keyBoundCheck judges. */
export interface KeyBoundInput {
  member: CheckpointKeyMember | null;
  note: string;
  agent: string;
  checkpointKey: Uint8Array;
  akPublic: Uint8Array | TpmPublic;
  /** The AK's base64url TPM2B_PUBLIC as the bundle carries it (the memo key). */
  akText: string;
  resetCount: number | null;
}

// key.bound of one quote's checkpoint by its exact inputs: shared by the receipts it judged.
const bound = new Memo<ClientCheck>(64, 'quote');

function keyBoundOf(o: KeyBoundInput): ClientCheck {
  const name = 'key.bound';
  if (o.member === null)
    return {
      name,
      status: 'fail',
      code: 'KEY_NOT_BOUND',
      detail: 'the bundle carries no TPM-held checkpoint key: nothing but a PCR event binds the agent key',
    };
  const keyId = o.checkpointKey.length === 32 ? agentKeyId(o.checkpointKey) : '';
  const memoKey = JSON.stringify([o.member, o.akText, o.agent]);
  const r = certified.get(memoKey, () =>
    verifyCheckpointKey(o.member!, { akPublic: o.akPublic, agent: o.agent }),
  );
  const bad = r.checks.find((c) => c.status === 'fail');
  if (bad) return { ...bad, name, detail: `the checkpoint key's certification: ${bad.detail}` };
  if (o.member.certify.receiptKeyId !== keyId)
    return {
      name,
      status: 'fail',
      code: 'KEY_NOT_BOUND',
      detail: `the TPM key was certified for agent key ${o.member.certify.receiptKeyId.slice(0, 16)}…, the checkpoint is signed by ${keyId.slice(0, 16)}…`,
    };
  const certReset = r.attest?.clockInfo.resetCount;
  if (o.resetCount !== null && certReset !== o.resetCount)
    return {
      name,
      status: 'fail',
      code: 'CERTIFY_RESET_COUNT_MISMATCH',
      detail: `the TPM key was certified at resetCount ${certReset}, the quote is at ${o.resetCount}`,
    };
  const origin = logOrigin(o.agent);
  let signed = false;
  try {
    const member = o.member;
    const verifier = verifiers.get(`${origin} ${member.public}`, () =>
      checkpointNoteVerifier(origin, member),
    );
    signed = openNote(o.note, [verifier]).ok;
  } catch (err) {
    if (!(err instanceof CoreError)) throw err;
  }
  if (!signed)
    return {
      name,
      status: 'fail',
      code: 'KEY_NOT_BOUND',
      detail: 'the checkpoint carries no valid signature by the certified TPM key',
    };
  return {
    name,
    status: 'pass',
    detail: `checked here: checkpoint co-signed by the TPM key the AK certified for agent key ${keyId.slice(0, 16)}… (resetCount ${certReset}); the certification nonce's freshness per the verifier`,
  };
}
