import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseAsciiLog, parseBinaryLog, replay } from '@tmb/core/ima';
import { AGENT_KEY_EVENT, MANIFEST_EVENT, MeasurementLog } from '../../src/measure/index.ts';

const sha256 = (...parts: (Uint8Array | string)[]) => {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return new Uint8Array(h.digest());
};

/** A software PCR: what the TPM would hold after the extends the log asked for. */
function softPcr() {
  const pcr = { index: -1, value: new Uint8Array(32), extends: 0 };
  const extend = (index: number, digest: Uint8Array) => {
    pcr.index = index;
    pcr.value = sha256(pcr.value, digest);
    pcr.extends++;
  };
  return { pcr, extend };
}

async function fixture() {
  const dir = await mkdtemp(join(tmpdir(), 'tmb-measure-'));
  await writeFile(join(dir, 'model.gguf'), 'GGUF weights v1');
  await mkdir(join(dir, 'shards', 'sub'), { recursive: true });
  await writeFile(join(dir, 'shards', 'model-00001.safetensors'), 'shard one');
  await writeFile(join(dir, 'shards', 'sub', 'config.json'), '{"a":1}');
  await writeFile(join(dir, 'blob'), 'shard two');
  await symlink(join(dir, 'blob'), join(dir, 'shards', 'model-00002.safetensors'));
  return dir;
}

test('measures files, directories and the key event; both logs on disk replay to the extended PCR', async (t) => {
  const dir = await fixture();
  t.after(() => rm(dir, { recursive: true, force: true }));
  const { pcr, extend } = softPcr();
  const log = new MeasurementLog({
    extend,
    pcrIndex: 15,
    binaryPath: join(dir, 'log.bin'),
    asciiPath: join(dir, 'log.txt'),
  });
  const file = await log.measureFile(join(dir, 'model.gguf'));
  assert.equal(file.digest, Buffer.from(sha256('GGUF weights v1')).toString('hex'));
  assert.equal(file.template, 'ima-ng');
  const shards = await log.measureDirectory(join(dir, 'shards'));
  const expectedManifest = [
    `${Buffer.from(sha256('shard one')).toString('hex')}  model-00001.safetensors\n`,
    `${Buffer.from(sha256('shard two')).toString('hex')}  model-00002.safetensors\n`,
    `${Buffer.from(sha256('{"a":1}')).toString('hex')}  sub/config.json\n`,
  ].join('');
  assert.equal(shards.digest, `sha256:${Buffer.from(sha256(expectedManifest)).toString('hex')}`);
  assert.equal(shards.entries.length, 4);
  assert.equal(shards.entries[3]!.path, `${MANIFEST_EVENT}${join(dir, 'shards')}`);
  assert.equal(new TextDecoder().decode(shards.entries[3]!.extra!), expectedManifest);
  const key = await log.measureBuffer(AGENT_KEY_EVENT, Uint8Array.of(1, 2, 3));
  assert.equal(key.digest, Buffer.from(sha256(Uint8Array.of(1, 2, 3))).toString('hex'));

  assert.equal(pcr.index, 15);
  assert.equal(pcr.extends, 6);
  const bin = parseBinaryLog(new Uint8Array(await readFile(join(dir, 'log.bin'))));
  const asc = parseAsciiLog(new Uint8Array(await readFile(join(dir, 'log.txt'))));
  assert.deepEqual(replay(bin, { bank: 'sha256', pcrIndex: 15, initial: new Uint8Array(32) }).pcr, pcr.value);
  assert.deepEqual(replay(asc, { bank: 'sha256', pcrIndex: 15, initial: new Uint8Array(32) }).pcr, pcr.value);
  assert.deepEqual(log.binary(), new Uint8Array(await readFile(join(dir, 'log.bin'))));
  assert.equal(replay(bin, { bank: 'sha1', pcrIndex: 15 }).templateHashMismatches.length, 0);
});

test('a changed file gets a new entry appended; an unchanged one none; the log is never rewritten', async (t) => {
  const dir = await fixture();
  t.after(() => rm(dir, { recursive: true, force: true }));
  const { pcr, extend } = softPcr();
  const log = new MeasurementLog({ extend, pcrIndex: 15, binaryPath: join(dir, 'log.bin') });
  await log.measureFile(join(dir, 'model.gguf'));
  await log.measureDirectory(join(dir, 'shards'));
  const before = new Uint8Array(await readFile(join(dir, 'log.bin')));
  assert.deepEqual(await log.remeasure(), []);

  await writeFile(join(dir, 'model.gguf'), 'GGUF weights v2, swapped');
  await writeFile(join(dir, 'blob'), 'shard two, quantized');
  const added = await log.remeasure();
  assert.deepEqual(
    added.map((e) => e.path),
    [
      join(dir, 'model.gguf'),
      join(dir, 'shards', 'model-00002.safetensors'),
      `${MANIFEST_EVENT}${join(dir, 'shards')}`,
    ],
  );
  assert.equal(added[0]!.digest, Buffer.from(sha256('GGUF weights v2, swapped')).toString('hex'));
  const after = new Uint8Array(await readFile(join(dir, 'log.bin')));
  assert.deepEqual(after.subarray(0, before.length), before);
  const entries = parseBinaryLog(after);
  assert.equal(entries.length, 8);
  assert.deepEqual(replay(entries, { bank: 'sha256', pcrIndex: 15 }).pcr, pcr.value);
  // The delta after an appraised index is the tail of the same log.
  assert.deepEqual(
    parseBinaryLog(log.binary(5), { firstIndex: 5 }).map((e) => e.path),
    entries.slice(5).map((e) => e.path),
  );
});

test('extends happen in log order even when measurements are requested concurrently', async (t) => {
  const dir = await fixture();
  t.after(() => rm(dir, { recursive: true, force: true }));
  const seen: string[] = [];
  const log = new MeasurementLog({
    pcrIndex: 15,
    extend: async (_i, digest) => {
      await new Promise((r) => setTimeout(r, Math.random() * 5));
      seen.push(Buffer.from(digest).toString('hex'));
    },
  });
  await Promise.all([
    log.measureFile(join(dir, 'model.gguf')),
    log.measureDirectory(join(dir, 'shards')),
    log.measureBuffer('x', Uint8Array.of(1)),
  ]);
  const bin = parseBinaryLog(log.binary());
  assert.deepEqual(
    seen,
    bin.map((e) => Buffer.from(sha256(e.templateData)).toString('hex')),
  );
});

test('open() continues the log already on disk after an agent restart', async (t) => {
  const dir = await fixture();
  t.after(() => rm(dir, { recursive: true, force: true }));
  const { pcr, extend } = softPcr();
  const paths = { binaryPath: join(dir, 'log.bin'), asciiPath: join(dir, 'log.txt') };
  const first = await MeasurementLog.open({ extend, pcrIndex: 15, ...paths });
  await first.measureFile(join(dir, 'model.gguf'));
  const again = await MeasurementLog.open({ extend, pcrIndex: 15, ...paths });
  assert.equal(again.entries.length, 1);
  const e = await again.measureBuffer(AGENT_KEY_EVENT, Uint8Array.of(9));
  assert.equal(e.index, 1);
  const entries = parseBinaryLog(new Uint8Array(await readFile(paths.binaryPath)));
  assert.deepEqual(replay(entries, { bank: 'sha256', pcrIndex: 15 }).pcr, pcr.value);
  assert.equal((await readFile(paths.asciiPath, 'utf8')).split('\n').length, 3);
  assert.deepEqual(again.binary(), new Uint8Array(await readFile(paths.binaryPath)));
});

test('appends go through one open handle: the log files are never opened again by path while the log runs', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'tmb-measure-handle-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const { extend } = softPcr();
  const [bin, txt] = [join(dir, 'm.bin'), join(dir, 'm.txt')];
  const log = new MeasurementLog({ pcrIndex: 14, binaryPath: bin, asciiPath: txt, extend });
  await log.measureBuffer('first', new Uint8Array([1]));
  // Moved away after the first append: an append that opened the path again would recreate it.
  await rename(bin, `${bin}.moved`);
  await rename(txt, `${txt}.moved`);
  await log.measureBuffer('second', new Uint8Array([2]));
  await log.measureBuffer('third', new Uint8Array([3]));
  await log.close();
  assert.equal(existsSync(bin) || existsSync(txt), false, 'an append reopened a log file by path');
  assert.deepEqual(
    parseBinaryLog(new Uint8Array(await readFile(`${bin}.moved`))).map((e) => e.path),
    ['first', 'second', 'third'],
  );
  assert.equal(parseAsciiLog(new Uint8Array(await readFile(`${txt}.moved`))).length, 3);
  // After close, the next measurement opens the path again.
  await log.measureBuffer('fourth', new Uint8Array([4]));
  await log.close();
  assert.equal(parseBinaryLog(new Uint8Array(await readFile(bin))).length, 1);
});
