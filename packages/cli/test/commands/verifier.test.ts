import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { test } from 'node:test';
import { parseTokens } from '../../src/commands/verifier.ts';

const MAIN = new URL('../../src/main.ts', import.meta.url).pathname;

test('a tokens file is one "token [agent]" per line; comments and blanks are skipped', () => {
  assert.deepEqual(parseTokens('# tokens\n\naaaaaaaaaaaaaaaa gpu-1\r\n  bbbbbbbbbbbbbbbb  \n'), [
    { token: 'aaaaaaaaaaaaaaaa', agent: 'gpu-1' },
    { token: 'bbbbbbbbbbbbbbbb' },
  ]);
  assert.throws(() => parseTokens('a b c'), { name: 'UsageError' });
});

test('tmb verifier prints {"listening": url}, serves, and exits 0 on SIGTERM', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'tmb-cli-verifier-'));
  try {
    const tokens = join(dir, 'tokens');
    await writeFile(tokens, 'secret-token-0123456789 gpu-1\n');
    const child = spawn(
      process.execPath,
      [MAIN, 'verifier', '--port', '0', '--db', join(dir, 'v.db'), '--tokens-file', tokens],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stderr = '';
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    try {
      const lines = createInterface({ input: child.stdout });
      const first = await new Promise<string>((resolve, reject) => {
        lines.once('line', resolve);
        child.once('exit', () => reject(new Error(`exited early: ${stderr}`)));
      });
      const { listening } = JSON.parse(first) as { listening: string };
      assert.match(listening, /^http:\/\/127\.0\.0\.1:\d+$/);
      const health = await fetch(`${listening}/healthz`);
      assert.deepEqual(await health.json(), { ok: true });
      const bad = await fetch(`${listening}/v1/agents/enroll`, {
        method: 'POST',
        headers: { authorization: 'Bearer wrong-token-0123456789' },
        body: '{}',
      });
      assert.equal(bad.status, 401);
    } finally {
      child.kill('SIGTERM');
    }
    assert.equal(await exited, 0);
    assert.doesNotMatch(stderr, /secret-token/, 'tokens never reach the logs');
  } finally {
    await rm(dir, { recursive: true });
  }
});

test('tmb verifier without tokens is a usage error (exit 2)', async () => {
  const env = { ...process.env };
  delete env.TMB_VERIFIER_TOKENS;
  const child = spawn(process.execPath, [MAIN, 'verifier', '--db', ':memory:'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env,
  });
  const code = await new Promise<number | null>((r) => child.on('exit', r));
  assert.equal(code, 2);
});
