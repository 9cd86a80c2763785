import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { test } from 'node:test';
import { createPolicy, signEnvelope } from '@tmb/core/ima';
import { SqliteStore } from '@tmb/verifier';
import {
  main,
  parseRateLimit,
  parseReaderTokens,
  parseTokens,
  withTrustedProxies,
} from '../../src/commands/verifier.ts';

const MAIN = new URL('../../src/main.ts', import.meta.url).pathname;

test('a tokens file is one "token agent" per line; comments and blanks are skipped', () => {
  assert.deepEqual(parseTokens('# tokens\n\naaaaaaaaaaaaaaaa gpu-1\r\n  bbbbbbbbbbbbbbbb  gpu-2 \n'), [
    { token: 'aaaaaaaaaaaaaaaa', agent: 'gpu-1' },
    { token: 'bbbbbbbbbbbbbbbb', agent: 'gpu-2' },
  ]);
  assert.throws(() => parseTokens('a b c'), { name: 'UsageError' });
});

test('regression: a token line without an agent name is refused (a token acts for exactly one agent)', () => {
  assert.throws(() => parseTokens('aaaaaaaaaaaaaaaa gpu-1\nbbbbbbbbbbbbbbbb\n'), {
    name: 'UsageError',
    message: /tokens line 2: expected "TOKEN AGENT-NAME"/,
  });
});

test('reader tokens are one per line; --rate-limit is R,B or off', () => {
  assert.deepEqual(parseReaderTokens('# readers\nrrrrrrrrrrrrrrrr\n\n'), ['rrrrrrrrrrrrrrrr']);
  assert.throws(() => parseReaderTokens('r1 r2'), { name: 'UsageError' });
  assert.deepEqual(parseRateLimit('50,100'), { perSecond: 50, burst: 100 });
  assert.deepEqual(parseRateLimit('0.5,1'), { perSecond: 0.5, burst: 1 });
  assert.equal(parseRateLimit('off'), false);
  for (const bad of ['50', '0,1', '5,0', '-1,2', 'x,y'])
    assert.throws(() => parseRateLimit(bad), { name: 'UsageError' });
});

test('--trust-proxy adds its comma-separated list to the rate limit, and needs the limit on', () => {
  assert.equal(withTrustedProxies(undefined, undefined), undefined);
  assert.deepEqual(withTrustedProxies(undefined, '127.0.0.1, 10.0.0.0/8'), {
    trustProxy: ['127.0.0.1', '10.0.0.0/8'],
  });
  assert.deepEqual(withTrustedProxies({ perSecond: 5, burst: 10 }, '::1'), {
    perSecond: 5,
    burst: 10,
    trustProxy: ['::1'],
  });
  assert.throws(() => withTrustedProxies(false, '127.0.0.1'), { name: 'UsageError' });
  assert.throws(() => withTrustedProxies(undefined, '127.0.0.1,'), { name: 'UsageError' });
});

test('tmb verifier allow-ak records a one-use permission in the verifier database', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'tmb-cli-allow-ak-'));
  try {
    const db = join(dir, 'v.db');
    const out: string[] = [];
    const io = { stdout: (s: string) => out.push(s), stderr: () => {}, stdin: async () => new Uint8Array(0) };
    assert.equal(await main(['allow-ak', '--db', db, '--agent', 'gpu-1'], io), 0);
    assert.deepEqual(JSON.parse(out.join('')), { allowed: 'gpu-1' });
    const store = new SqliteStore(db);
    try {
      assert.equal(await store.takeAkAllowance('gpu-1'), true);
      assert.equal(await store.takeAkAllowance('gpu-1'), false, 'used up');
      assert.equal(await store.takeAkAllowance('gpu-2'), false);
    } finally {
      await store.close();
    }
    await assert.rejects(main(['allow-ak', '--db', db], io), { name: 'UsageError' });
    await assert.rejects(main(['allow-ak', '--agent', 'gpu-1'], io), { name: 'UsageError' });
    await assert.rejects(main(['allow-ak', '--db', ':memory:', '--agent', 'gpu-1'], io), {
      name: 'UsageError',
    });
  } finally {
    await rm(dir, { recursive: true });
  }
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

test('tmb verifier --ima-policy-key: a signed policy starts with its key and stops the start with another', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'tmb-cli-verifier-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const tokens = join(dir, 'tokens');
  await writeFile(tokens, 'secret-token-0123456789 gpu-1\n');
  const policy = JSON.stringify(createPolicy([])); // an empty Keylime runtime policy
  const signer = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const pem = (k: KeyObject) => k.export({ type: 'spki', format: 'pem' }).toString();
  await writeFile(
    join(dir, 'policy.json'),
    JSON.stringify(signEnvelope(new TextEncoder().encode(policy), signer.privateKey)),
  );
  await writeFile(join(dir, 'right.pem'), pem(signer.publicKey));
  await writeFile(join(dir, 'wrong.pem'), pem(generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey));
  const run = async (key: string) => {
    const args = [MAIN, 'verifier', '--port', '0', '--db', join(dir, `${key}.db`), '--tokens-file', tokens];
    args.push(
      '--ima-policy',
      join(dir, 'policy.json'),
      '--ima-policy-key',
      join(dir, key),
      '--ephemeral-key',
    );
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    const first = await new Promise<string | null>((resolve) => {
      createInterface({ input: child.stdout }).once('line', resolve);
      child.once('exit', () => resolve(null));
    });
    if (first !== null) child.kill('SIGTERM');
    return { first, code: await exited, stderr };
  };
  const right = await run('right.pem');
  assert.match(right.first ?? right.stderr, /"listening"/);
  assert.equal(right.code, 0);
  const wrong = await run('wrong.pem');
  assert.equal(wrong.first, null);
  assert.equal(wrong.code, 1);
  assert.match(wrong.stderr, /IMA_POLICY_SIGNATURE_INVALID/);
});
