import assert from 'node:assert/strict';
import { chmod, mkdir, mkdtemp, realpath, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { resolveExecutable } from '../../src/telemetry/tool.ts';

test('resolveExecutable: PATH order, executables only, symlinks resolved, null when none', async (t) => {
  const dir = await realpath(await mkdtemp(join(tmpdir(), 'tmb-tool-')));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const [a, b] = [join(dir, 'a'), join(dir, 'b')];
  await mkdir(a);
  await mkdir(b);
  await writeFile(join(a, 'nvidia-smi'), '#!/bin/sh\n'); // not executable: skipped, as execvp does
  await writeFile(join(b, 'real-smi'), '#!/bin/sh\n');
  await chmod(join(b, 'real-smi'), 0o755);
  await symlink(join(b, 'real-smi'), join(b, 'nvidia-smi'));
  assert.equal(resolveExecutable('nvidia-smi', `${a}:relative:${b}`), join(b, 'real-smi'));
  assert.equal(resolveExecutable(join(b, 'nvidia-smi'), ''), join(b, 'real-smi'));
  assert.equal(resolveExecutable('nvidia-smi', a), null);
  assert.equal(resolveExecutable('no-such-tool', `${a}:${b}`), null);
  assert.equal(resolveExecutable(b, ''), null, 'a folder is not a program');
});
