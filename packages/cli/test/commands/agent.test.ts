import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { main } from '../../src/main.ts';
import { capture } from '../io.ts';

test('tmb agent refuses to start when its TPM does not answer', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'tmb-cli-agent-'));
  try {
    await assert.rejects(
      main(
        [
          'agent',
          '--upstream',
          'http://127.0.0.1:9',
          '--name',
          'a1',
          '--data-dir',
          dir,
          '--tpm',
          `unix:${join(dir, 'none.sock')}`,
        ],
        capture(),
      ),
      (err: { code?: string }) => err.code === 'TPM_UNAVAILABLE',
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('tmb agent --tpm and --tpm-pcr are checked', async () => {
  const io = capture();
  assert.equal(
    await main(['agent', '--upstream', 'http://127.0.0.1:9', '--name', 'a1', '--tpm', 'tcp:1'], io),
    2,
  );
  assert.match(io.err, /--tpm is device/);
});
