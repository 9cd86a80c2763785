import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { concat } from '@tmb/core';
import { parseBinaryLog, replay } from '@tmb/core/ima';
import { KernelLog } from '../../../src/measure/kernel/reader.ts';
import { entryBytes, FakeSecurityfs } from './fixtures.ts';

let root: string;
before(async () => {
  root = await mkdtemp(join(tmpdir(), 'tmb-kernel-reader-'));
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

let n = 0;
async function fresh(): Promise<{ fs: FakeSecurityfs; log: KernelLog }> {
  const fs = await new FakeSecurityfs(join(root, `sfs-${n++}`)).create();
  return { fs, log: new KernelLog({ securityfs: fs.dir, chunkBytes: 64 }) };
}

const paths = (bytes: Uint8Array, from = 0) => parseBinaryLog(bytes, { firstIndex: from }).map((e) => e.path);

test('complete entries only: a truncated tail waits for the next read', async () => {
  const { fs, log } = await fresh();
  try {
    const [a, b, c] = ['/usr/bin/a', '/usr/bin/b', '/usr/lib/c.so'].map((p) => entryBytes(p));
    await fs.append(a!, 1);
    await fs.append(b!.subarray(0, 30), 0); // half of b: the kernel (or the read) is mid-entry
    assert.deepEqual(await log.read(), { added: 1, restarted: false, more: false });
    assert.equal(log.count, 1);
    assert.deepEqual(paths(await log.entriesFrom(0)), ['/usr/bin/a']);
    await fs.append(b!.subarray(30), 1);
    await fs.append(concat(c!, c!.subarray(0, 5)), 1);
    assert.equal((await log.read()).added, 2);
    assert.deepEqual(paths(await log.entriesFrom(1), 1), ['/usr/bin/b', '/usr/lib/c.so']);
    assert.deepEqual(await log.entriesFrom(3), new Uint8Array(0));
    assert.equal((await log.read()).added, 0, 'nothing new: nothing added');
    await assert.rejects(log.entriesFrom(4), RangeError);
    assert.equal(await log.measuredCount(), 3);
  } finally {
    await log.close();
  }
});

test('incremental: each read takes only new bytes; acknowledged entries are dropped and read back when asked', async () => {
  const { fs, log } = await fresh();
  try {
    const all: Uint8Array[] = [];
    for (let round = 0; round < 5; round++) {
      const batch = Array.from({ length: 7 }, (_, i) => entryBytes(`/opt/f-${round}-${i}`));
      all.push(...batch);
      await fs.append(concat(...batch), batch.length);
      assert.equal((await log.read()).added, 7);
    }
    assert.equal(log.count, 35);
    const whole = concat(...all);
    assert.deepEqual(await log.entriesFrom(0), whole);
    const held = log.heldBytes;
    log.acknowledge(30);
    assert.ok(log.heldBytes < held / 4, `${log.heldBytes} of ${held} bytes still held`);
    assert.deepEqual(await log.entriesFrom(30), concat(...all.slice(30)));
    // A verifier that lost its state asks from 0 again: read back from the file.
    assert.deepEqual(await log.entriesFrom(0), whole);
    assert.deepEqual(await log.entriesFrom(12), concat(...all.slice(12)));
    log.acknowledge(2); // below what was dropped: nothing changes
    assert.deepEqual(await log.entriesFrom(29), concat(...all.slice(29)));
  } finally {
    await log.close();
  }
});

test('a bounded read leaves the rest for the next one', async () => {
  const { fs } = await fresh();
  const log = new KernelLog({ securityfs: fs.dir, chunkBytes: 100, maxReadBytes: 300 });
  try {
    const batch = Array.from({ length: 20 }, (_, i) => entryBytes(`/srv/m-${i}`));
    await fs.append(concat(...batch), 20);
    let r = await log.read();
    assert.equal(r.more, true);
    assert.ok(log.count < 20);
    while (r.more) r = await log.read();
    assert.equal(log.count, 20);
    assert.deepEqual(await log.entriesFrom(0), concat(...batch));
  } finally {
    await log.close();
  }
});

test('a replaced or shrunk log (reboot of the simulated kernel) starts over from entry 0; a new reader reads it all', async () => {
  const { fs, log } = await fresh();
  try {
    await fs.append(concat(entryBytes('/a'), entryBytes('/b'), entryBytes('/c')), 3);
    assert.equal((await log.read()).added, 3);
    log.acknowledge(3);
    // Reboot: a new file (another inode) with a new first entry.
    await fs.create();
    await fs.append(entryBytes('/boot'), 1);
    assert.deepEqual(await log.read(), { added: 1, restarted: true, more: false });
    assert.equal(log.count, 1);
    assert.deepEqual(paths(await log.entriesFrom(0)), ['/boot']);
    // Rewritten in place (same inode) shorter than what was read: also a restart; the 10
    // bytes left are a torn entry, so nothing is added yet.
    await writeFile(fs.binary, entryBytes('/y').subarray(0, 10));
    const r = await log.read();
    assert.equal(r.restarted, true);
    assert.equal(log.count, 0);
    // Agent restart: a fresh reader takes the whole log.
    await fs.create();
    await fs.append(concat(entryBytes('/1'), entryBytes('/2')), 2);
    const again = new KernelLog({ securityfs: fs.dir });
    assert.equal((await again.read()).added, 2);
    await again.close();
  } finally {
    await log.close();
  }
});

test('boot log: read whole; missing or over 1 MiB is KERNEL_LOG_UNREADABLE', async () => {
  const { fs, log } = await fresh();
  try {
    const bios = new Uint8Array(200_000).map((_, i) => i % 251);
    await writeFile(join(fs.dir, 'tpm0', 'binary_bios_measurements'), bios);
    assert.deepEqual(await log.bootLog(), bios);
    await writeFile(join(fs.dir, 'tpm0', 'binary_bios_measurements'), new Uint8Array((1 << 20) + 1));
    await assert.rejects(log.bootLog(), { code: 'KERNEL_LOG_UNREADABLE', message: /over 1048576 bytes/ });
    await rm(join(fs.dir, 'tpm0'), { recursive: true });
    await assert.rejects(log.bootLog(), { code: 'KERNEL_LOG_UNREADABLE' });
  } finally {
    await log.close();
  }
});

test('without the count file the binary log is read to count', async () => {
  const { fs, log } = await fresh();
  try {
    await fs.append(entryBytes('/q'), 1);
    await rm(join(fs.dir, 'ima', 'runtime_measurements_count'));
    assert.equal(await log.measuredCount(), 1);
    await rm(fs.binary);
    const gone = new KernelLog({ securityfs: fs.dir });
    await assert.rejects(gone.measuredCount(), { code: 'KERNEL_LOG_UNREADABLE' });
  } finally {
    await log.close();
  }
});

test("known answer: core's 200-entry kernel-format vector (all templates, a violation), read in 64-byte chunks, then replayed", async () => {
  // packages/core/test/vectors/ima/README.md says how the vector was made; expected.json holds
  // its entry count and PCR 10 values computed independently of core's IMA code.
  const vectors = new URL('../../../../core/test/vectors/ima/', import.meta.url);
  const bin = new Uint8Array(await readFile(new URL('mixed-200.bin', vectors)));
  const expected = JSON.parse(await readFile(new URL('expected.json', vectors), 'utf8')) as {
    entries: number;
    sha256: string;
  };
  const { fs, log } = await fresh();
  try {
    // Appended in uneven pieces, read between them: each read keeps complete entries only.
    for (let at = 0; at < bin.length; at += 997) {
      await fs.append(bin.subarray(at, at + 997), 0);
      await log.read();
      assert.equal(log.error, null);
    }
    assert.equal(log.count, expected.entries);
    const all = await log.entriesFrom(0);
    assert.deepEqual(all, bin);
    const r = replay(parseBinaryLog(all), { pcrIndex: 10, bank: 'sha256' });
    assert.equal(Buffer.from(r.pcr).toString('hex'), expected.sha256);
  } finally {
    await log.close();
  }
});
