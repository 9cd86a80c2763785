import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseBinaryLog, replay } from '@tmb/core/ima';
import { AGENT_KEY_EVENT, MANIFEST_EVENT, MeasurementLog } from '../../src/measure/index.ts';

// A TPM reset under a running agent (attest/standing.ts): the measurement log starts over in the
// new boot. Nothing of the old boot's log may be carried over, and what is logged again is read now.

const sha256 = (...parts: (Uint8Array | string)[]) => {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return new Uint8Array(h.digest());
};

test('newBoot: the files are emptied, the key event comes first, tracked files are read again now, and the log replays to the new PCR', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'tmb-measure-newboot-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await writeFile(join(dir, 'model.gguf'), 'weights v1');
  await mkdir(join(dir, 'shards'));
  await writeFile(join(dir, 'shards', 'a.safetensors'), 'shard a');
  let pcr = new Uint8Array(32);
  const extend = (_index: number, digest: Uint8Array) => {
    pcr = sha256(pcr, digest);
  };
  const binaryPath = join(dir, 'measure.bin');
  const log = new MeasurementLog({ pcrIndex: 12, binaryPath, extend });
  const key = new Uint8Array(32).fill(7);
  await log.measureBuffer(AGENT_KEY_EVENT, key);
  await log.measureFile(join(dir, 'model.gguf'));
  await log.measureDirectory(join(dir, 'shards'));
  assert.equal(log.entries.length, 4);

  // The reset: the PCR is back at zero; the weights changed while the TPM was down.
  pcr = new Uint8Array(32);
  await writeFile(join(dir, 'model.gguf'), 'weights v2');
  const newKey = new Uint8Array(32).fill(9);
  const entries = await log.newBoot([{ name: AGENT_KEY_EVENT, bytes: newKey }]);

  assert.deepEqual(
    entries.map((e) => e.path),
    [
      AGENT_KEY_EVENT,
      join(dir, 'model.gguf'),
      join(dir, 'shards', 'a.safetensors'),
      `${MANIFEST_EVENT}${join(dir, 'shards')}`,
    ],
  );
  assert.deepEqual(
    entries.map((e) => e.index),
    [0, 1, 2, 3],
    'indices start over',
  );
  assert.equal(entries[1]!.digest, Buffer.from(sha256('weights v2')).toString('hex'), 'read again now');
  const onDisk = parseBinaryLog(new Uint8Array(await readFile(binaryPath)));
  assert.equal(onDisk.length, 4, 'the old boot is not in the file');
  assert.deepEqual(replay(onDisk, { pcrIndex: 12, bank: 'sha256' }).pcr, pcr);
  // Measuring goes on in the new boot.
  await writeFile(join(dir, 'model.gguf'), 'weights v3');
  assert.equal((await log.remeasure()).length, 1);
  assert.deepEqual(replay(log.entries, { pcrIndex: 12, bank: 'sha256' }).pcr, pcr);
  await log.close();
});
