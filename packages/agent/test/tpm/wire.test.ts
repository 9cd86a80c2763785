import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { sha256, utf8 } from '@tmb/core';
import { parsePcrsFile, verifyQuote } from '@tmb/core/tpm';
import { TpmDriver } from '../../src/tpm/driver.ts';
import { runTool } from '../../src/tpm/exec.ts';
import {
  pcrExtendCommand,
  pcrExtendResponse,
  pcrReadCommand,
  pcrReadResponse,
} from '../../src/tpm/pcrcmd.ts';
import { provisionSwtpm, type Swtpm, startSwtpm } from '../../src/tpm/swtpm.ts';
import { tctiString } from '../../src/tpm/tcti.ts';
import { TpmWire } from '../../src/tpm/wire.ts';

// The resident connection (tpm/wire.ts) against a real swtpm, beside the tool path on the same
// TPM: the same quote, PCR values and checkpoint signatures whichever path made them, and tools
// never blocked by the wire (swtpm serves one client at a time).

let dir: string;
let tpm: Swtpm;
let wire: TpmDriver;
let tools: TpmDriver;
let ak: { public: Uint8Array; name: Uint8Array };

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tmb-tpm-wire-'));
  tpm = await startSwtpm(await provisionSwtpm(join(dir, 'swtpm')));
  // Both drivers hold the same AK (same workDir, same persistent handle).
  wire = new TpmDriver({ tcti: tpm.tcti, workDir: join(dir, 'work'), transport: 'wire' });
  tools = new TpmDriver({ tcti: tpm.tcti, workDir: join(dir, 'work'), transport: 'tools' });
  await wire.open();
  await tools.open();
  ak = await tools.createAk();
});

after(async () => {
  await wire?.close();
  await tpm?.stop();
  await rm(dir, { recursive: true, force: true });
});

function verifies(q: { attest: Uint8Array; signature: Uint8Array; pcrsFile: Uint8Array }, nonce: Uint8Array) {
  const r = verifyQuote({
    attest: q.attest,
    signature: q.signature,
    akPublic: ak.public,
    akName: ak.name,
    pcrs: q.pcrsFile,
    requirePcrs: true,
    expectedQualifyingData: nonce,
  });
  assert.equal(r.ok, true, JSON.stringify(r.checks.filter((c) => c.status !== 'pass')));
}

test('transport: `wire` and `tools` as asked; auto takes the wire when the TPM answers on it', async () => {
  assert.equal(wire.transport, 'wire');
  assert.equal(tools.transport, 'tools');
  const auto = new TpmDriver({ tcti: tpm.tcti, workDir: join(dir, 'auto') });
  await auto.open();
  assert.equal(auto.transport, 'wire');
  await auto.close();
});

test('a quote over the wire is the tool quote, format for format: both verify with @tmb/core', async () => {
  await wire.pcrExtend(16, sha256(utf8('wire test')));
  // 0..10 and 16: more than the 8 PCRs one TPM2_PCR_Read returns, so two TPML_DIGEST lists.
  const pcrs = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 16];
  const n1 = sha256(utf8('nonce tools'));
  const n2 = sha256(utf8('nonce wire'));
  const runs = wire.toolRuns;
  const byTools = await tools.quote(pcrs, n1);
  const byWire = await wire.quote(pcrs, n2);
  assert.equal(
    wire.toolRuns - runs,
    1,
    'the wire quote ran no tool (one tpm2_readpublic: the first quote checks the handle)',
  );
  verifies(byTools, n1);
  verifies(byWire, n2);
  // The PCR values file is byte for byte the tool's (same PCR values: nothing extended between).
  assert.deepEqual(Buffer.from(byWire.pcrsFile), Buffer.from(byTools.pcrsFile));
  assert.equal(parsePcrsFile(byWire.pcrsFile).digests.length, 12);
  assert.deepEqual(byWire.pcrValues, byTools.pcrValues);
  // Same TPMS_ATTEST layout (same length; differs in clock, nonce and the signed-over fields only).
  assert.equal(byWire.attest.length, byTools.attest.length);
  assert.deepEqual(byWire.signature.subarray(0, 4), byTools.signature.subarray(0, 4)); // sigAlg, hash
  assert.equal(byWire.signature.length, byTools.signature.length);
  // A steady quote is one connection's worth of commands, no tool.
  const before = wire.toolRuns;
  verifies(await wire.quote([16], n2), n2);
  assert.equal(wire.toolRuns, before);
});

test('PCR reads and extends over the wire agree with tpm2_pcrread', async () => {
  const digest = sha256(utf8('extend over the wire'));
  const before = (await tools.pcrRead([16])).get(16)!;
  await wire.pcrExtend(16, digest);
  const expected = sha256(new Uint8Array([...before, ...digest]));
  assert.deepEqual((await tools.pcrRead([16])).get(16), expected);
  assert.deepEqual((await wire.pcrRead([16])).get(16), expected);
  const many = await wire.pcrRead([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 16, 23]);
  assert.deepEqual([...many.keys()], [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 16, 23]);
  assert.deepEqual(many, await tools.pcrRead([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 16, 23]));
});

test('checkpoint signatures over the wire verify; tool runs close the wire first (no deadlock)', async () => {
  const created = await wire.createCheckpointKey(sha256(utf8('certify')));
  assert.ok(created.public.length > 0);
  const runs = wire.toolRuns;
  const sig = await wire.signWithCheckpointKey(utf8('checkpoint text'));
  assert.equal(wire.toolRuns, runs, 'TPM2_Sign went over the wire');
  assert.equal(sig.r.length > 0 && sig.s.length > 0, true);
  // A tool of another program while the wire is idle-open: it gets in once the wire lets go.
  await wire.pcrRead([16]);
  const t = await runTool('tpm2_pcrread', ['sha256:16'], { tcti: tctiString(tpm.tcti), timeoutMs: 8_000 });
  assert.match(t.stdout, /16 ?:/);
});

test('a wire in a burst of commands does not starve another client of the one-client swtpm', async () => {
  const hammer = new TpmWire(tpm.tcti);
  const read = pcrReadCommand([{ hashAlg: 0x000b, pcrs: [16] }]);
  let done = false;
  let sent = 0;
  const burst = (async () => {
    while (!done && sent < 5_000) {
      await hammer.send(read);
      sent++;
    }
  })();
  await new Promise((r) => setTimeout(r, 50));
  const other = new TpmWire(tpm.tcti);
  assert.equal(pcrReadResponse(await other.send(read)).digests.length, 1);
  const t = await runTool('tpm2_pcrread', ['sha256:16'], { tcti: tctiString(tpm.tcti), timeoutMs: 8_000 });
  assert.match(t.stdout, /16 ?:/);
  done = true;
  await burst;
  assert.ok(sent < 5_000, 'the other client and the tool got in while the burst went on');
  hammer.release();
  other.release();
});

test('a TPM error over the wire is TPM_TOOL_FAILED with its code; the connection keeps working', async () => {
  const w = new TpmWire(tpm.tcti, { idleMs: 0 });
  // PCR 30 does not exist: TPM_RC_VALUE or a handle error, in a well-formed 10-byte response.
  await assert.rejects(
    w.send(pcrExtendCommand(30, new Uint8Array(32))).then((r) => pcrExtendResponse(r)),
    { code: 'TPM_TOOL_FAILED', message: /TPM2_PCR_Extend: the TPM answered 0x/ },
  );
  assert.equal(
    pcrReadResponse(await w.send(pcrReadCommand([{ hashAlg: 0x000b, pcrs: [16] }]))).digests.length,
    1,
  );
  w.release();
});

test('the AK evicted behind the driver: the wire quote places it again and verifies', async () => {
  await runTool('tpm2_evictcontrol', ['-C', 'o', '-c', wire.akHandle!], { tcti: tctiString(tpm.tcti) });
  const n = sha256(utf8('after evict'));
  verifies(await wire.quote([16], n), n);
  assert.equal(wire.akMode, 'persistent');
});

test('every AK kind quotes over the wire: ECDSA P-384 and RSA-PSS quotes verify with their PCR values', async () => {
  for (const kind of ['ecc384', 'rsapss'] as const) {
    const d = new TpmDriver({
      tcti: tpm.tcti,
      workDir: join(dir, kind),
      transport: 'wire',
      akHandle: 0x81000a60,
    });
    const k = await d.createAk(kind);
    const nonce = sha256(utf8(kind));
    const q = await d.quote([0, 10, 16], nonce);
    const r = verifyQuote({
      ...q,
      pcrs: q.pcrsFile,
      requirePcrs: true,
      akPublic: k.public,
      akName: k.name,
      expectedQualifyingData: nonce,
    });
    assert.equal(r.ok, true, `${kind}: ${JSON.stringify(r.checks.filter((c) => c.status !== 'pass'))}`);
    await d.close();
  }
  await runTool('tpm2_evictcontrol', ['-C', 'o', '-c', '0x81000a60'], { tcti: tctiString(tpm.tcti) });
});

test('swtpm gone: the wire says TPM_UNAVAILABLE, and `wire` refuses to open where nothing answers', async () => {
  const none = new TpmDriver({
    tcti: { kind: 'swtpm', port: 1 },
    workDir: join(dir, 'none'),
    transport: 'wire',
    timeoutMs: 5_000,
  });
  await assert.rejects(none.pcrRead([16]), { code: 'TPM_UNAVAILABLE' });
  const auto = new TpmDriver({
    tcti: { kind: 'swtpm', port: 1 },
    workDir: join(dir, 'none'),
    timeoutMs: 5_000,
  });
  await assert.rejects(auto.pcrRead([16]), { code: 'TPM_TOOL_FAILED' });
  assert.equal(auto.transport, 'tools');
});
