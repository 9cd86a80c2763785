/**
 * Regenerates packages/core/test/vectors/tpm/certify/ from a real swtpm driven by the agent's
 * TPM driver (tpm2-tools 5.4 and raw TPM2_Certify / TPM2_Sign through tpm2_send):
 *   node_modules/.bin/node scripts/tpm-certify-vectors.ts
 * For each AK kind (ECC P-256, RSASSA) it creates an AK under the RSA EK, creates a checkpoint
 * key (ECDSA P-256 in the TPM, agent ckey.ts), has the AK certify it over
 * checkpointKeyQualifying(nonce, agent, receiptKeyId), and signs one checkpoint note text with
 * it (C2SP signed-note type 0x02). Every run gives new keys, so tests read the files.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type AkAlg, provisionSwtpm, startSwtpm, TpmDriver } from '@tmb/agent/tpm';
import { sha256, toHex, utf8 } from '@tmb/core';
import { derEcdsaSignature } from '@tmb/core/log';
import { checkpointKeyQualifying } from '@tmb/core/tpm';

const out = new URL('../packages/core/test/vectors/tpm/certify/', import.meta.url).pathname;
const tmp = await mkdtemp(join(tmpdir(), 'tmb-certify-vectors-'));
const state = await provisionSwtpm(join(tmp, 'swtpm'));
const tpm = await startSwtpm(state);
const agent = 'gpu-vector-1';
const receiptKeyId = toHex(sha256(utf8('tmb certify vector receipt key')));
const note = 'tmb/agent/gpu-vector-1\n3\nq0+/6TGmB3vNVo6gBUsZXEtf2k4zVW0fR5iZLyLuL0o=\n';
try {
  const driver = new TpmDriver({ tcti: tpm.tcti, workDir: join(tmp, 'work') });
  await driver.open();
  for (const alg of ['ecc256', 'rsassa'] as AkAlg[]) {
    const dir = join(out, alg);
    await rm(dir, { recursive: true, force: true });
    await mkdir(dir, { recursive: true });
    const ak = await driver.createAk(alg);
    const nonce = sha256(utf8(`tmb ${alg} certify nonce`));
    const c = await driver.createCheckpointKey(checkpointKeyQualifying(nonce, agent, receiptKeyId));
    const sig = await driver.signWithCheckpointKey(utf8(note));
    await writeFile(join(dir, 'ak.pub'), ak.public);
    await writeFile(join(dir, 'key.pub'), c.public);
    await writeFile(join(dir, 'certify.attest'), c.certifyInfo);
    await writeFile(join(dir, 'certify.sig'), c.signature);
    await writeFile(join(dir, 'note.sig'), derEcdsaSignature(sig.r, sig.s));
    await writeFile(
      join(dir, 'inputs.json'),
      `${JSON.stringify({ nonce: toHex(nonce), agent, receiptKeyId, note }, null, 2)}\n`,
    );
  }
  await driver.close();
} finally {
  await tpm.stop();
  await rm(tmp, { recursive: true, force: true });
}
