import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { sha256, toHex, utf8 } from '@tmb/core';
import { parseTpm2bPublic, tpmName, verifyQuote } from '@tmb/core/tpm';
import { DEFAULT_AK_HANDLE, handleText } from '../../src/tpm/ak.ts';
import { TpmDriver } from '../../src/tpm/driver.ts';
import { runTool } from '../../src/tpm/exec.ts';
import { provisionSwtpm, type Swtpm, type SwtpmState, startSwtpm } from '../../src/tpm/swtpm.ts';
import { tctiString } from '../../src/tpm/tcti.ts';

// The AK kept at a persistent handle, against a real swtpm on a Unix socket (its path survives a
// restart, so a live driver sees the same TPM again). Tests run in order and share the TPM.
// Drivers here take the tool path, whose tool runs per quote are counted; wire.test.ts covers
// the same handle cases over the resident connection (no tool per steady quote).

const HANDLE = handleText(DEFAULT_AK_HANDLE);
let dir: string;
let state: SwtpmState;
let tpm: Swtpm;
let a: TpmDriver;
let akA: { public: Uint8Array; name: Uint8Array };

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tmb-tpm-persistent-'));
  state = await provisionSwtpm(join(dir, 'swtpm'));
  tpm = await startSwtpm(state, { transport: 'unix' });
  a = new TpmDriver({ transport: 'tools', tcti: tpm.tcti, workDir: join(dir, 'a') });
  akA = await a.createAk();
});

after(async () => {
  await tpm?.stop();
  await rm(dir, { recursive: true, force: true });
});

const tool = async (name: string, ...args: string[]) =>
  (await runTool(name, args, { tcti: tctiString(tpm.tcti), cwd: dir })).stdout.trim();

/** Stops and starts swtpm on the same state, orderly (TPM2_Shutdown first: else its clock is not `safe`). */
async function restartTpm(): Promise<void> {
  await tool('tpm2_shutdown');
  await tpm.stop();
  tpm = await startSwtpm(state, { transport: 'unix' });
}

/** The name of the object at the AK handle, or null when it is empty. */
async function nameAtHandle(): Promise<string | null> {
  try {
    await tool('tpm2_readpublic', '-c', HANDLE, '-o', 'at-handle.pub');
  } catch {
    return null;
  }
  return toHex(tpmName(parseTpm2bPublic(new Uint8Array(await readFile(join(dir, 'at-handle.pub'))))));
}

/** Quotes with `d` and checks the quote verifies under `ak` (name included); returns tool runs. */
async function quoteVerifies(d: TpmDriver, ak: { public: Uint8Array; name: Uint8Array }, what: string) {
  const runs = d.toolRuns;
  const nonce = sha256(utf8(what));
  const q = await d.quote([16], nonce);
  const r = verifyQuote({
    ...q,
    pcrs: q.pcrsFile,
    akPublic: ak.public,
    akName: ak.name,
    expectedQualifyingData: nonce,
  });
  assert.deepEqual(
    r.checks.filter((c) => c.status === 'fail'),
    [],
    what,
  );
  assert.equal(await tool('tpm2_getcap', 'handles-transient'), '', `${what}: transient objects flushed`);
  assert.equal(await tool('tpm2_getcap', 'handles-loaded-session'), '', `${what}: sessions flushed`);
  return d.toolRuns - runs;
}

test('createAk makes the AK persistent at the documented handle; a quote is one tpm2_quote', async () => {
  assert.equal(a.akMode, 'persistent');
  assert.equal(await nameAtHandle(), toHex(akA.name));
  assert.equal(await quoteVerifies(a, akA, 'first'), 1);
  assert.equal(await quoteVerifies(a, akA, 'second'), 1);
  // Over the resident connection (wire.ts) the same quote runs no tool at all.
  const w = new TpmDriver({ transport: 'wire', tcti: tpm.tcti, workDir: join(dir, 'a') });
  assert.equal(
    await quoteVerifies(w, akA, 'wire, first'),
    1,
    'tpm2_readpublic: the first quote checks the handle',
  );
  assert.equal(await quoteVerifies(w, akA, 'wire, second'), 0);
  await w.close();
});

test('without a handle (akHandle null) the AK is loaded and flushed per quote, as before', async () => {
  const old = new TpmDriver({ transport: 'tools', tcti: tpm.tcti, workDir: join(dir, 'a'), akHandle: null });
  assert.equal(old.akMode, 'loaded');
  // EK session (2), load, flush the session, quote, flush -t -l -s.
  assert.equal(await quoteVerifies(old, akA, 'old path'), 8);
  assert.equal(await nameAtHandle(), toHex(akA.name), 'the handle is not touched');
  assert.throws(
    () =>
      new TpmDriver({ transport: 'tools', tcti: tpm.tcti, workDir: dir, akHandle: 0x81010001 + 0x800000 }),
    RangeError,
  );
});

test('a restarted driver on a restarted swtpm reuses the handle after checking its name', async () => {
  await restartTpm();
  const again = new TpmDriver({ transport: 'tools', tcti: tpm.tcti, workDir: join(dir, 'a') });
  assert.equal(again.akMode, 'unknown');
  // tpm2_readpublic of the handle (same name: reused, nothing evicted or loaded), then the quote.
  assert.equal(await quoteVerifies(again, akA, 'restarted'), 2);
  assert.equal(again.akMode, 'persistent');
  assert.equal(await nameAtHandle(), toHex(akA.name));
  assert.equal(await quoteVerifies(again, akA, 'restarted, second'), 1);
  // The live driver from before the restart still quotes through the same socket path.
  assert.equal(await quoteVerifies(a, akA, 'live across restart'), 1);
});

test('a handle taken by another AK is never used blindly: the quote is checked and the AK placed again', async () => {
  const b = new TpmDriver({ transport: 'tools', tcti: tpm.tcti, workDir: join(dir, 'b') });
  const akB = await b.createAk();
  assert.notEqual(toHex(akB.name), toHex(akA.name));
  assert.equal(await nameAtHandle(), toHex(akB.name), 'b replaced the AK at the handle');
  // `a` believes its AK is there: its quote by B's key fails its signature check, so it places
  // its own AK again (check, evict B's, load under the EK, persist, flush) and quotes again.
  assert.ok((await quoteVerifies(a, akA, 'a after b')) > 1);
  assert.equal(await nameAtHandle(), toHex(akA.name));
  // A fresh driver of B finds A's AK at the handle: its name is checked before any quote.
  const b2 = new TpmDriver({ transport: 'tools', tcti: tpm.tcti, workDir: join(dir, 'b') });
  assert.ok((await quoteVerifies(b2, akB, 'b restarted')) > 2);
  assert.equal(await nameAtHandle(), toHex(akB.name));
});

test('a key at the handle that is not an AK is left alone: quotes load the AK instead', async () => {
  await tool('tpm2_evictcontrol', '-C', 'o', '-c', HANDLE);
  await tool('tpm2_createprimary', '-C', 'o', '-G', 'ecc', '-c', 'primary.ctx');
  await tool('tpm2_evictcontrol', '-C', 'o', '-c', 'primary.ctx', HANDLE);
  await tool('tpm2_flushcontext', '-t');
  const primary = await nameAtHandle();
  assert.ok(primary !== null);
  const d = new TpmDriver({ transport: 'tools', tcti: tpm.tcti, workDir: join(dir, 'a') });
  await quoteVerifies(d, akA, 'storage key at the handle');
  assert.equal(d.akMode, 'loaded');
  assert.equal(await nameAtHandle(), primary, 'the storage key is still there');
  // Nor does createAk evict it.
  const fresh = await d.createAk();
  assert.equal(d.akMode, 'loaded');
  assert.equal(await nameAtHandle(), primary);
  await quoteVerifies(d, fresh, 'fresh AK, loaded');
  await tool('tpm2_evictcontrol', '-C', 'o', '-c', HANDLE);
});

test('the TPM going away: quotes fail (tools TPM_TOOL_FAILED, wire TPM_UNAVAILABLE), then work once it is back', async () => {
  const live = await a.createAk();
  assert.equal(a.akMode, 'persistent');
  const w = new TpmDriver({ transport: 'wire', tcti: tpm.tcti, workDir: join(dir, 'a') });
  assert.equal(await quoteVerifies(w, live, 'wire before'), 1);
  await tool('tpm2_shutdown');
  await tpm.stop();
  await assert.rejects(a.quote([16], sha256(utf8('no tpm'))), { code: 'TPM_TOOL_FAILED' });
  await assert.rejects(w.quote([16], sha256(utf8('no tpm, wire'))), { code: 'TPM_UNAVAILABLE' });
  tpm = await startSwtpm(state, { transport: 'unix' });
  assert.equal(await quoteVerifies(a, live, 'back'), 1);
  assert.equal(await quoteVerifies(w, live, 'wire back'), 0, 'the wire reconnects by itself');
  await w.close();
  const none = new TpmDriver({
    transport: 'tools',
    tcti: { kind: 'swtpm', port: 1 },
    workDir: join(dir, 'a'),
  });
  await assert.rejects(none.quote([16], sha256(utf8('never a tpm'))), { code: 'TPM_TOOL_FAILED' });
});
