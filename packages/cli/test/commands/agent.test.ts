import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
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

test('tmb agent --tpm-transport takes wire or tools only', async () => {
  const base = ['agent', '--upstream', 'http://127.0.0.1:9', '--name', 'a1', '--tpm', 'none'];
  for (const bad of ['bogus', 'auto', '', 'WIRE']) {
    const io = capture();
    assert.equal(await main([...base, '--tpm-transport', bad], io), 2, bad);
    assert.match(io.err, /--tpm-transport is wire or tools/);
  }
});

test('tmb agent --securityfs and --no-kernel-ima: exclusive; a folder without a kernel log, or --tpm-pcr 10 beside one, refuses to start', async () => {
  const io = capture();
  const base = ['agent', '--upstream', 'http://127.0.0.1:9', '--name', 'a1'];
  assert.equal(await main([...base, '--securityfs', '/x', '--no-kernel-ima'], io), 2);
  assert.match(io.err, /exclude each other/);
  const dir = await mkdtemp(join(tmpdir(), 'tmb-cli-agent-'));
  try {
    // The kernel option is checked before the TPM is opened (the socket here answers nothing).
    const tpm = ['--data-dir', dir, '--tpm', `unix:${join(dir, 'none.sock')}`];
    await assert.rejects(main([...base, ...tpm, '--securityfs', join(dir, 'sfs')], capture()), {
      code: 'AGENT_CONFIG_INVALID',
      message: /no readable kernel IMA log at .*sfs\/ima\/binary_runtime_measurements/,
    });
    await mkdir(join(dir, 'sfs', 'ima'), { recursive: true });
    await writeFile(join(dir, 'sfs', 'ima', 'binary_runtime_measurements'), '');
    await assert.rejects(
      main([...base, ...tpm, '--securityfs', join(dir, 'sfs'), '--tpm-pcr', '10'], capture()),
      {
        code: 'AGENT_CONFIG_INVALID',
        message: /use 11..15/,
      },
    );
    // With the log there, the agent goes on to open the TPM (which is not there).
    await assert.rejects(
      main([...base, ...tpm, '--securityfs', join(dir, 'sfs'), '--host-poll-ms', '100'], capture()),
      {
        code: 'TPM_UNAVAILABLE',
      },
    );
    await assert.rejects(main([...base, ...tpm, '--no-kernel-ima'], capture()), { code: 'TPM_UNAVAILABLE' });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
