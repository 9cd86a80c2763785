import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { sha256, utf8 } from '@tmb/core';
import { derEcdsaSignature, ecdsaNoteVerifier } from '@tmb/core/log';
import { checkpointKeyAttributeProblem, parseTpm2bPublic, verifyCertify } from '@tmb/core/tpm';
import { TpmDriver } from '../../src/tpm/driver.ts';
import { runTool } from '../../src/tpm/exec.ts';
import { certifyCommand, responseParameters, signCommand } from '../../src/tpm/raw.ts';
import { provisionSwtpm, type Swtpm, startSwtpm } from '../../src/tpm/swtpm.ts';
import { tctiString } from '../../src/tpm/tcti.ts';

// The checkpoint key on a real swtpm: created in the TPM, certified by the AK, signing notes;
// its authValue never on a command line or on disk. Tests run in order and share the TPM.

let dir: string;
let tpm: Swtpm;
let a: TpmDriver;
let ak: { public: Uint8Array; name: Uint8Array };
const Q = sha256(utf8('qualifying data'));

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tmb-tpm-ckey-'));
  tpm = await startSwtpm(await provisionSwtpm(join(dir, 'swtpm')));
  a = new TpmDriver({ tcti: tpm.tcti, workDir: join(dir, 'a') });
  ak = await a.createAk();
});

after(async () => {
  await tpm?.stop();
  await rm(dir, { recursive: true, force: true });
});

const transients = async () =>
  (await runTool('tpm2_getcap', ['handles-transient'], { tcti: tctiString(tpm.tcti) })).stdout.trim();

test('the checkpoint key is made in the TPM, certified by the AK over the qualifying data, and signs notes', async () => {
  const c = await a.createCheckpointKey(Q);
  const key = parseTpm2bPublic(c.public);
  assert.equal(checkpointKeyAttributeProblem(key), null);
  const r = verifyCertify({
    keyPublic: c.public,
    certifyInfo: c.certifyInfo,
    signature: c.signature,
    akPublic: ak.public,
    expectedQualifyingData: Q,
  });
  assert.deepEqual(
    r.checks.filter((x) => x.status === 'fail'),
    [],
  );
  const text = utf8('tmb/agent/x\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n');
  const { r: sr, s } = await a.signWithCheckpointKey(text);
  assert.equal(ecdsaNoteVerifier('tmb/agent/x', c.spki).verify(text, derEcdsaSignature(sr, s)), true);
  // Nothing stays loaded: the key is persistent and the AK too.
  assert.equal(await transients(), '');
  // Quotes still work beside it.
  const q = await a.quote([0, 10], sha256(utf8('n')));
  assert.ok(q.attest.length > 0);
});

test('the authValue is neither in a file of the work folder nor accepted when wrong', async () => {
  for (const f of await readdir(join(dir, 'a'), { withFileTypes: true })) {
    if (!f.isFile()) continue; // the quote pipes
    const bytes = await readFile(join(dir, 'a', f.name));
    // The auth is 32 base64url characters; no file holds a run of them next to nothing else.
    assert.ok(!/^[A-Za-z0-9_-]{32}$/.test(bytes.toString('latin1')), f.name);
  }
  // A TPM2_Sign with another authValue is refused by the TPM (TPM_RC_BAD_AUTH, session 1: a noDA key).
  const digest = new Uint8Array(createHash('sha256').update('x').digest());
  const res = await runTool('tpm2_send', ['-o', join(dir, 'res.bin')], {
    tcti: tctiString(tpm.tcti),
    input: signCommand(a.ckeyHandle, utf8('wrong'), digest),
  }).then(
    async () => new Uint8Array(await readFile(join(dir, 'res.bin'))),
    () => null,
  );
  if (res !== null) assert.throws(() => responseParameters(res, 'TPM2_Sign'), /0x9a2/);
  // A certification by the AK of the key without its authValue is refused the same way.
  const cres = await runTool('tpm2_send', ['-o', join(dir, 'cres.bin')], {
    tcti: tctiString(tpm.tcti),
    input: certifyCommand(a.ckeyHandle, new Uint8Array(0), 0x81000a4b, Q),
  }).then(
    async () => new Uint8Array(await readFile(join(dir, 'cres.bin'))),
    () => null,
  );
  if (cres !== null) assert.throws(() => responseParameters(cres, 'TPM2_Certify'), /0x9a2/);
});

test("another driver's key at the same handle: the next signature places this key again and verifies", async () => {
  const spki = a.checkpointKey!.spki;
  const b = new TpmDriver({ tcti: tpm.tcti, workDir: join(dir, 'b') });
  await b.createAk();
  await b.createCheckpointKey(Q); // evicts a's key from the shared handle
  const text = utf8('after the handle was taken\n');
  const { r, s } = await a.signWithCheckpointKey(text);
  assert.equal(ecdsaNoteVerifier('k', spki).verify(text, derEcdsaSignature(r, s)), true);
});
