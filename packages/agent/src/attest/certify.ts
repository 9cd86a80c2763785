import { fromHex, toBase64Url } from '@tmb/core';
import { derEcdsaSignature, ecdsaNoteSigner, type NoteSigner } from '@tmb/core/log';
import { checkpointKeyQualifying, parseAttest } from '@tmb/core/tpm';
import type { TpmDriver } from '../tpm/driver.ts';
import { type AttestClient, type NonceAnswer, VerifierRefusal } from './client.ts';

/** This start's TPM-held checkpoint key, certified by the AK, as the attester signs with it. */
export interface CheckpointKey {
  /** Signs note text in the TPM (C2SP signed-note type 0x02, DER), under the log's origin. */
  signer: NoteSigner;
  /** TPM2B_PUBLIC of the key. */
  public: Uint8Array;
  /** The TPM resetCount of its certification: the boot its checkpoints' quotes must be in (key.bound). */
  resetCount: number;
}

/**
 * Creates this start's checkpoint key in the TPM and has the AK certify it for the verifier
 * (docs/evidence.md, "The checkpoint key"): a fresh nonce (POST /v1/attest/nonce), TPM2_Certify
 * over SHA-256(nonce ‖ "tmb.checkpoint-key.v1\n" ‖ agent ‖ "\n" ‖ receiptKeyId), then POST
 * /v1/attest/checkpoint-key. Returns null when the verifier has no such endpoint (404: an older
 * verifier; checkpoints stay Ed25519-signed and key.bound fails at a current one).
 * @throws AgentError / VerifierRefusal when the verifier refuses; TpmDriverError from the TPM
 */
export async function certifyCheckpointKey(o: {
  driver: TpmDriver;
  client: AttestClient;
  agent: string;
  origin: string;
  receiptKeyId: string;
}): Promise<CheckpointKey | null> {
  const n = await o.client.post<NonceAnswer>('/v1/attest/nonce', { agent: o.agent });
  const c = await o.driver.createCheckpointKey(
    checkpointKeyQualifying(fromHex(n.nonce), o.agent, o.receiptKeyId),
  );
  try {
    await o.client.post('/v1/attest/checkpoint-key', {
      agent: o.agent,
      nonce: n.nonce,
      keyPublic: toBase64Url(c.public),
      certifyInfo: toBase64Url(c.certifyInfo),
      signature: toBase64Url(c.signature),
      receiptKeyId: o.receiptKeyId,
    });
  } catch (err) {
    if (err instanceof VerifierRefusal && err.status === 404) return null;
    throw err;
  }
  const driver = o.driver;
  return {
    public: c.public,
    resetCount: parseAttest(c.certifyInfo).clockInfo.resetCount,
    signer: ecdsaNoteSigner(o.origin, c.spki, async (text) => {
      const { r, s } = await driver.signWithCheckpointKey(text);
      return derEcdsaSignature(r, s);
    }),
  };
}
