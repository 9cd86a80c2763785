import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { sha256, utf8 } from '@tmb/core';
import { parseAttest, parsePcrsFile, verifyQuote } from '@tmb/core/tpm';
import { TpmDriver } from '../../src/tpm/driver.ts';
import { provisionSwtpm, type Swtpm, startSwtpm } from '../../src/tpm/swtpm.ts';

// On a host with IMA, a file the agent writes and reads back each quote is measured again each
// time. The driver passes tpm2_quote's outputs through named pipes: after the one-off set-up,
// quoting writes nothing to its folder. Real swtpm, real tpm2_quote.

let dir: string;
let tpm: Swtpm;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tmb-tpm-pipes-'));
  tpm = await startSwtpm(await provisionSwtpm(join(dir, 'swtpm')));
});

after(async () => {
  await tpm?.stop();
  await rm(dir, { recursive: true, force: true });
});

/** Every entry under `root` with its kind, inode, and for files their size and modification time. */
async function snapshot(root: string): Promise<string[]> {
  const out: string[] = [];
  for (const name of (await readdir(root, { recursive: true })).sort()) {
    const s = await stat(join(root, name));
    // A pipe's times move as data passes through it; nothing of it is on disk.
    if (s.isFIFO()) out.push(`${name} fifo ${s.ino}`);
    else out.push(`${name} ${s.isFile() ? 'file' : 'dir'} ${s.size} ${s.ino} ${s.mtimeMs}`);
  }
  return out;
}

test('quotes through pipes write no file: the folder is unchanged across quotes, and the quote verifies', async () => {
  const work = join(dir, 'work');
  const driver = new TpmDriver({ transport: 'tools', tcti: tpm.tcti, workDir: work });
  await driver.open();
  const ak = await driver.createAk();
  const pcrs = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 14];
  await driver.quote(pcrs, sha256(utf8('first: places the AK, makes the pipes')));
  assert.equal(driver.quoteOutputs, 'pipes');
  const before = await snapshot(work);
  assert.ok(
    before.some((l) => /^quote\.msg\.pipe fifo /.test(l)),
    before.join('\n'),
  );
  const tmpBefore = (await readdir(tmpdir())).filter((n) => !n.startsWith('tmb-')).sort();
  for (let i = 0; i < 5; i++) {
    const nonce = sha256(utf8(`nonce ${i}`));
    const q = await driver.quote(pcrs, nonce);
    const r = verifyQuote({
      ...q,
      pcrs: q.pcrsFile,
      akPublic: ak.public,
      akName: ak.name,
      expectedQualifyingData: nonce,
    });
    assert.equal(r.ok, true, JSON.stringify(r.checks));
    const values = parsePcrsFile(q.pcrsFile);
    assert.deepEqual(
      values.selection.map((s) => [s.hash, s.pcrs]),
      [['sha256', pcrs]],
    );
    assert.equal(parseAttest(q.attest).type, 0x8018); // TPM_ST_ATTEST_QUOTE
  }
  assert.deepEqual(await snapshot(work), before, 'quotes changed the driver folder');
  const tmpAfter = (await readdir(tmpdir())).filter((n) => !n.startsWith('tmb-')).sort();
  assert.deepEqual(
    tmpAfter.filter((n) => !tmpBefore.includes(n)),
    [],
    'quotes wrote to the temp folder',
  );
  await driver.close();
  // A new driver on the same folder reuses the pipes.
  const again = new TpmDriver({ transport: 'tools', tcti: tpm.tcti, workDir: work });
  await again.quote(pcrs, sha256(utf8('again')));
  assert.equal(again.quoteOutputs, 'pipes');
  await again.close();
  // Over the resident connection (wire.ts) nothing is written either: no pipe is even used.
  const wire = new TpmDriver({ transport: 'wire', tcti: tpm.tcti, workDir: work });
  await wire.quote(pcrs, sha256(utf8('wire: checks the handle, tpm2_readpublic -o handle.pub')));
  const steady = await snapshot(work);
  for (let i = 0; i < 3; i++) await wire.quote(pcrs, sha256(utf8(`wire ${i}`)));
  assert.equal(wire.quoteOutputs, 'unknown');
  assert.deepEqual(await snapshot(work), steady, 'wire quotes changed the driver folder');
  await wire.close();
});

test('a folder that cannot hold the pipes falls back to files, and still quotes', async () => {
  const work = join(dir, 'no-pipes');
  await mkdir(join(work, 'quote.msg.pipe', 'in-the-way'), { recursive: true });
  const driver = new TpmDriver({ transport: 'tools', tcti: tpm.tcti, workDir: work, akHandle: 0x81000a50 });
  await driver.createAk();
  const q = await driver.quote([10], sha256(utf8('files')));
  assert.equal(driver.quoteOutputs, 'files');
  assert.equal(parsePcrsFile(q.pcrsFile).selection[0]?.pcrs[0], 10);
  await driver.close();
});
