import { agentKeyId, ed25519Verify, enrolMessage, fromBase64Url } from '@tmb/core';
import { TokenAuth } from '../auth.ts';
import { VerifierError } from '../errors.ts';
import { asObject, readJson, stringField } from '../http/body.ts';
import { sendJson } from '../http/respond.ts';
import { AGENT_NAME } from '../options.ts';
import type { Context } from './context.ts';

/**
 * POST /v1/agents/enroll: enrols an agent key after checking the token and the proof that
 * the caller holds the private key. Enrolling the same key again for the same agent is a no-op.
 * @throws VerifierError TOKEN_INVALID | TOKEN_AGENT_MISMATCH | BODY_MALFORMED | ENROL_PROOF_INVALID | ENROL_KEY_CONFLICT
 */
export async function enroll(ctx: Context): Promise<void> {
  const grant = ctx.auth.check(ctx.req.headers.authorization);
  const body = asObject(await readJson(ctx.req, ctx.options.maxBodyBytes), 'enrolment');
  const agent = stringField(body, 'agent', 128);
  if (!AGENT_NAME.test(agent)) {
    throw new VerifierError(
      'BODY_MALFORMED',
      'agent name must be 1 to 128 printable ASCII characters, no spaces',
    );
  }
  TokenAuth.allow(grant, agent);
  const key = decode(stringField(body, 'key', 64), 32, 'key');
  const proof = decode(stringField(body, 'proof', 128), 64, 'proof');
  if (!ed25519Verify(key, enrolMessage(agent, key), proof)) {
    throw new VerifierError(
      'ENROL_PROOF_INVALID',
      'proof is not a signature of the enrolment message by this key',
    );
  }
  const keyId = agentKeyId(key);
  // Under the agent's lock (lock.ts): a push deciding which key holds which log position sees
  // the enrolment order as it is.
  await ctx.attest.lock.run(agent, async () => {
    const added = await ctx.store.addKey({ agent, keyId, key, enrolledAt: ctx.options.now() });
    if (!added) {
      const existing = await ctx.store.getKey(keyId);
      if (existing?.agent !== agent) {
        throw new VerifierError(
          'ENROL_KEY_CONFLICT',
          `key ${keyId.slice(0, 16)}… is enrolled for another agent`,
        );
      }
    }
  });
  ctx.log.info('agent_key_enrolled', { agent, keyId });
  sendJson(ctx.res, 200, { agent, keyId });
}

function decode(text: string, length: number, field: string): Uint8Array {
  let bytes: Uint8Array;
  try {
    bytes = fromBase64Url(text);
  } catch (cause) {
    throw new VerifierError('BODY_MALFORMED', `"${field}" is not unpadded base64url`, { cause });
  }
  if (bytes.length !== length) {
    throw new VerifierError('BODY_MALFORMED', `"${field}" must be ${length} bytes, found ${bytes.length}`);
  }
  return bytes;
}
