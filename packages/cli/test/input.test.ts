import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { UsageError } from '../src/args.ts';
import { InputTooLargeError, readBounded, readChunks } from '../src/input.ts';

const dir = mkdtempSync(join(tmpdir(), 'tmb-input-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('readBounded returns a file up to the cap, byte for byte, across chunk boundaries', async () => {
  const data = new Uint8Array(200_000).map((_, i) => i * 7);
  const path = join(dir, 'a.bin');
  writeFileSync(path, data);
  assert.deepEqual(await readBounded(path, data.length), data);
  writeFileSync(join(dir, 'empty'), '');
  assert.equal((await readBounded(join(dir, 'empty'), 0)).length, 0);
});

test('readBounded refuses a regular file one byte over the cap, naming path and cap', async () => {
  const path = join(dir, 'b.bin');
  writeFileSync(path, new Uint8Array(1001));
  await assert.rejects(readBounded(path, 1000), (err: unknown) => {
    assert.ok(err instanceof InputTooLargeError);
    assert.ok(err instanceof UsageError);
    assert.equal(err.maxBytes, 1000);
    assert.match(err.message, /b\.bin: larger than 1000 bytes/);
    return true;
  });
});

test('readBounded on /dev/zero (an endless device) stops at the cap instead of filling memory', async () => {
  await assert.rejects(readBounded('/dev/zero', 100_000), InputTooLargeError);
});

test('readChunks on /dev/zero yields bounded chunks and stops reading when the caller breaks', async () => {
  let read = 0;
  for await (const c of readChunks('/dev/zero', { chunkBytes: 4096 })) {
    assert.ok(c.length <= 4096);
    read += c.length;
    if (read >= 3 * 4096) break;
  }
  assert.equal(read, 3 * 4096);
});

test('a missing file or a directory is a UsageError naming the path', async () => {
  await assert.rejects(
    readBounded(join(dir, 'nope'), 10),
    (e: unknown) => e instanceof UsageError && /nope/.test(e.message),
  );
  await assert.rejects(
    readBounded(dir, 10),
    (e: unknown) => e instanceof UsageError && /is a directory/.test(e.message),
  );
});
