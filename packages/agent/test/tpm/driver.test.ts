import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { sha256, utf8 } from '@tmb/core';
import { checkEkCertificate, makeCredential, parseTpm2bPublic, verifyQuote } from '@tmb/core/tpm';
import { TpmDriver } from '../../src/tpm/driver.ts';
import { runTool } from '../../src/tpm/exec.ts';
import { provisionSwtpm, type Swtpm, type SwtpmState, startSwtpm } from '../../src/tpm/swtpm.ts';
import { tctiString } from '../../src/tpm/tcti.ts';

// Against a real swtpm (Debian packages swtpm, swtpm-tools) driven by tpm2-tools, started here on
// two free ports of 127.0.0.1 and stopped by PID at the end.

let dir: string;
let state: SwtpmState;
let tpm: Swtpm;
let driver: TpmDriver;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tmb-tpm-driver-'));
  state = await provisionSwtpm(join(dir, 'swtpm'));
  tpm = await startSwtpm(state);
  driver = new TpmDriver({ tcti: tpm.tcti, workDir: join(dir, 'work') });
  await driver.open();
});

after(async () => {
  await tpm?.stop();
  await rm(dir, { recursive: true, force: true });
});

async function transientHandles(): Promise<string> {
  return (await runTool('tpm2_getcap', ['handles-transient'], { tcti: tctiString(tpm.tcti) })).stdout.trim();
}

test('EK public area and certificate from swtpm chain to its local CA', async () => {
  const ek = parseTpm2bPublic(await driver.readEkPublic());
  assert.equal(ek.type, 'rsa');
  const cert = await driver.readEkCertificate();
  assert.ok(cert !== null);
  const checks = checkEkCertificate({
    certificate: cert,
    ekPublic: ek,
    roots: [await readFile(state.rootCertPath, 'utf8')],
    intermediates: [await readFile(state.issuerCertPath, 'utf8')],
    at: new Date(),
  });
  assert.deepEqual(
    checks.map((c) => c.status),
    ['pass', 'pass'],
  );
});

test('createAk + makeCredential in TypeScript + ActivateCredential on the TPM returns the secret', async () => {
  const ek = parseTpm2bPublic(await driver.readEkPublic());
  const ak = await driver.createAk();
  const secret = sha256(utf8('enrolment challenge'));
  const cred = makeCredential(ek, ak.name, secret);
  assert.deepEqual(await driver.activateCredential(cred.file), secret);
  // Bound to the AK's name: a credential made for another name does not activate.
  const otherName = ak.name.slice();
  otherName[10]! ^= 1;
  await assert.rejects(driver.activateCredential(makeCredential(ek, otherName, secret).file), {
    code: 'TPM_TOOL_FAILED',
  });
  assert.equal(await transientHandles(), '', 'every transient object flushed');
});

test('a quote over an extended PCR verifies in verifyQuote, and the next one is later', async () => {
  const ak = await driver.createAk('ecc256');
  const before = (await driver.pcrRead([23])).get(23)!;
  const key = sha256(utf8('receipt signing key'));
  await driver.pcrExtend(23, key);
  const after23 = (await driver.pcrRead([23])).get(23)!;
  assert.deepEqual(after23, sha256(before, key));
  const nonce1 = sha256(utf8('nonce 1'));
  const q1 = await driver.quote([16, 23], nonce1);
  const r1 = verifyQuote({
    ...q1,
    pcrs: q1.pcrsFile,
    akPublic: ak.public,
    akName: ak.name,
    expectedQualifyingData: nonce1,
  });
  assert.deepEqual(
    r1.checks.filter((c) => c.status === 'fail'),
    [],
  );
  assert.deepEqual(q1.pcrValues.digests[1], after23);
  const nonce2 = sha256(utf8('nonce 2'));
  const q2 = await driver.quote([16, 23], nonce2);
  const r2 = verifyQuote({
    ...q2,
    akPublic: ak.public,
    pcrs: q2.pcrValues,
    expectedQualifyingData: nonce2,
    previousClock: r1.attest!.clockInfo,
  });
  assert.equal(r2.ok, true);
  assert.equal(r2.checks.find((c) => c.name === 'tpm.quote.clock')?.status, 'pass');
  assert.equal(await transientHandles(), '');
});

test('an ECC P-256 EK: created at 0x81010002, credential by ECDH + KDFe activates', async () => {
  const ecc = new TpmDriver({ tcti: tpm.tcti, workDir: join(dir, 'work-ecc'), ek: 'ecc' });
  const ek = parseTpm2bPublic(await ecc.readEkPublic());
  assert.equal(ek.type, 'ecc');
  const ak = await ecc.createAk();
  const secret = utf8('sixteen byte sec');
  assert.deepEqual(await ecc.activateCredential(makeCredential(ek, ak.name, secret).file), secret);
});

test('no TPM: open() says so plainly and fast, never hangs', async () => {
  const none = new TpmDriver({
    tcti: { kind: 'swtpm', port: 1 },
    workDir: join(dir, 'none'),
    timeoutMs: 5_000,
  });
  await assert.rejects(none.open(), {
    code: 'TPM_UNAVAILABLE',
    message: /no TPM answers at swtpm:host=127.0.0.1,port=1/,
  });
  const dev = new TpmDriver({
    tcti: { kind: 'device', path: join(dir, 'no-such-tpm') },
    workDir: join(dir, 'none'),
  });
  await assert.rejects(dev.open(), { code: 'TPM_UNAVAILABLE' });
});

test('a tool past its timeout is killed and named', async () => {
  await assert.rejects(runTool('sleep', ['5'], { timeoutMs: 100 }), { code: 'TPM_TOOL_TIMEOUT' });
  await assert.rejects(runTool('tmb-no-such-tool', []), { code: 'TPM_UNAVAILABLE' });
});

test('the same swtpm state over a Unix socket answers (last: it restarts the TPM)', async () => {
  await tpm.stop();
  tpm = await startSwtpm(state, { transport: 'unix' });
  assert.equal(tpm.tcti.kind, 'unix');
  const unix = new TpmDriver({ tcti: tpm.tcti, workDir: join(dir, 'work-unix') });
  await unix.open();
  assert.equal(parseTpm2bPublic(await unix.readEkPublic()).type, 'rsa');
});
