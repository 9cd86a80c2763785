import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { UsageError } from '../../src/args.ts';
import { ekOptions } from '../../src/commands/verifier.ts';

// tmb verifier's EK trust flags (docs/tpm-roots.md): --ek-roots (old name --tpm-roots),
// --ek-intermediates and --require-hardware-tpm become the verifier's options.

let dir: string;
const vectors = new URL('../../../core/test/vectors/tpm/', import.meta.url).pathname;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tmb-cli-ek-'));
  for (const sub of ['roots', 'inter', 'empty']) await mkdir(join(dir, sub));
  await writeFile(join(dir, 'roots', 'root.pem'), await readFile(join(vectors, 'ca-root.pem')));
  await writeFile(join(dir, 'inter', 'issuer.crt'), await readFile(join(vectors, 'ca-issuer.pem')));
  await writeFile(join(dir, 'inter', 'notes.txt'), 'not a certificate');
});

after(() => rm(dir, { recursive: true, force: true }));

test('--ek-roots, --ek-intermediates and --require-hardware-tpm fill the verifier options', async () => {
  const o = await ekOptions({
    'ek-roots': join(dir, 'roots'),
    'ek-intermediates': join(dir, 'inter'),
    'require-hardware-tpm': true,
  });
  assert.equal(o.tpmRoots.length, 1);
  assert.match(o.tpmRoots[0]!, /BEGIN CERTIFICATE/);
  assert.equal(o.ekIntermediates.length, 1);
  assert.equal(o.requireHardwareTpm, true);
  // Default: no operator roots, the shipped vendor CAs only, hardware not required.
  assert.deepEqual(await ekOptions({}), { tpmRoots: [], ekIntermediates: [], requireHardwareTpm: false });
  assert.equal((await ekOptions({ 'tpm-roots': join(dir, 'roots') })).tpmRoots.length, 1);
});

test('both root flags, or a folder without certificates, are usage errors', async () => {
  await assert.rejects(ekOptions({ 'tpm-roots': dir, 'ek-roots': dir }), UsageError);
  await assert.rejects(ekOptions({ 'ek-intermediates': join(dir, 'empty') }), /holds no \*\.pem or \*\.crt/);
});
