/**
 * Regenerates packages/core/test/vectors/tpm/ from a real swtpm driven by tpm2-tools:
 *   node_modules/.bin/node scripts/tpm-vectors.ts
 * It manufactures a fresh swtpm (swtpm_setup with a local CA) in a temporary folder, extends
 * PCR 16, and for each AK kind (ECC P-256, ECC P-384, RSASSA, RSAPSS) creates an AK under the RSA
 * EK with tpm2_createak and makes two quotes with tpm2_quote over sha256:0,16,23. Every run gives
 * new keys and signatures, so the known-answer tests read the files rather than fixed constants.
 */
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type AkAlg, provisionSwtpm, startSwtpm, TpmDriver } from '@tmb/agent/tpm';
import { fromHex, sha256, toHex, utf8 } from '@tmb/core';
import { parseTpm2bPublic, publicKeyOf } from '@tmb/core/tpm';

const out = new URL('../packages/core/test/vectors/tpm/', import.meta.url).pathname;
const tmp = await mkdtemp(join(tmpdir(), 'tmb-tpm-vectors-'));
const state = await provisionSwtpm(join(tmp, 'swtpm'));
const tpm = await startSwtpm(state);
try {
  const driver = new TpmDriver({ tcti: tpm.tcti, workDir: join(tmp, 'work') });
  await driver.open();
  await driver.pcrExtend(16, sha256(utf8('tmb test vector')));
  await writeFile(join(out, 'ek-rsa.pub'), await driver.readEkPublic());
  const cert = await driver.readEkCertificate();
  if (cert === null) throw new Error('swtpm has no EK certificate');
  await writeFile(join(out, 'ek-rsa.crt'), cert);
  await cp(state.rootCertPath, join(out, 'ca-root.pem'));
  await cp(state.issuerCertPath, join(out, 'ca-issuer.pem'));
  const pcrs = [0, 16, 23];
  for (const alg of ['ecc256', 'ecc384', 'rsassa', 'rsapss'] as AkAlg[]) {
    const dir = join(out, alg);
    await rm(dir, { recursive: true, force: true });
    await mkdir(dir, { recursive: true });
    const ak = await driver.createAk(alg);
    await writeFile(join(dir, 'ak.pub'), ak.public);
    const pem = publicKeyOf(parseTpm2bPublic(ak.public)).export({ format: 'pem', type: 'spki' });
    await writeFile(join(dir, 'ak.pem'), pem);
    for (const n of [1, 2]) {
      const nonce = sha256(utf8(`tmb ${alg} quote ${n}`));
      const q = await driver.quote(pcrs, nonce);
      await writeFile(join(dir, `quote${n}.msg`), q.attest);
      await writeFile(join(dir, `quote${n}.sig`), q.signature);
      await writeFile(join(dir, `quote${n}.pcrs`), q.pcrsFile);
      await writeFile(join(dir, `quote${n}.nonce`), `${toHex(nonce)}\n`);
    }
  }
  // Sanity: what was written reads back.
  fromHex((await readFile(join(out, 'ecc256', 'quote1.nonce'), 'utf8')).trim());
} finally {
  await tpm.stop();
  await rm(tmp, { recursive: true, force: true });
}
process.stdout.write(`wrote ${out}\n`);
