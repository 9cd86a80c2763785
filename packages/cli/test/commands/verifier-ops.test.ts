import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { test } from 'node:test';
import { resultKey } from '../../src/commands/verifier.ts';

// Issue 10: `tmb verifier` keeps its EAR key in the data folder across restarts (a throwaway
// key only with --ephemeral-key, which warns), and logs JSON lines on stderr at --log-level.

const MAIN = new URL('../../src/main.ts', import.meta.url).pathname;

type Run = { url: string; lines: Record<string, unknown>[]; stop(): Promise<number | null> };

async function run(args: string[]): Promise<Run> {
  const child = spawn(process.execPath, [MAIN, 'verifier', '--port', '0', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d) => {
    stderr += d;
  });
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  const first = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout }).once('line', resolve);
    child.once('exit', () => reject(new Error(`exited early: ${stderr}`)));
  });
  const { listening } = JSON.parse(first) as { listening: string };
  return {
    url: listening,
    get lines() {
      return stderr
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Record<string, unknown>);
    },
    stop: async () => {
      child.kill('SIGTERM');
      return exited;
    },
  };
}

test('tmb verifier: the key is created once in the --db folder (0600) and the same after a restart', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'tmb-cli-vkey-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const tokens = join(dir, 'tokens');
  await writeFile(tokens, 'secret-token-0123456789 gpu-1\n');
  const args = ['--db', join(dir, 'v.db'), '--tokens-file', tokens];
  const a = await run(args);
  const kidA = ((await (await fetch(`${a.url}/v1/verifier-key`)).json()) as { kid: string }).kid;
  assert.equal(await a.stop(), 0);
  assert.equal((await stat(join(dir, 'result-key.pem'))).mode & 0o777, 0o600);
  const events = a.lines.map((l) => l.event);
  assert.deepEqual(events.slice(0, 2), ['result_key_created', 'store_migrated']);
  assert.ok(events.includes('verifier_started'));
  assert.ok(!events.includes('result_key_ephemeral'));
  assert.equal(events.at(-1), 'verifier_stopped');

  const b = await run(args);
  const kidB = ((await (await fetch(`${b.url}/v1/verifier-key`)).json()) as { kid: string }).kid;
  assert.equal(await b.stop(), 0);
  assert.equal(kidB, kidA, 'the restarted verifier signs with the same key');
  assert.ok(!b.lines.some((l) => l.event === 'result_key_created' || l.event === 'store_migrated'));
  assert.doesNotMatch(JSON.stringify([...a.lines, ...b.lines]), /secret-token/);
});

test('tmb verifier --ephemeral-key: a key made at start, with a warning; --log-level warn hides info', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'tmb-cli-vkey-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const tokens = join(dir, 'tokens');
  await writeFile(tokens, 'secret-token-0123456789 gpu-1\n');
  const a = await run([
    '--db',
    ':memory:',
    '--tokens-file',
    tokens,
    '--ephemeral-key',
    '--log-level',
    'warn',
  ]);
  assert.equal(await a.stop(), 0);
  assert.deepEqual(
    a.lines.map((l) => [l.level, l.event]),
    [['warn', 'result_key_ephemeral']],
  );
});

test('resultKey: --db :memory: needs --result-key or --ephemeral-key; the two exclude each other', async () => {
  const log = { info: () => {} };
  await assert.rejects(resultKey({}, ':memory:', log), { name: 'UsageError', message: /--ephemeral-key/ });
  await assert.rejects(resultKey({ 'ephemeral-key': true, 'result-key': 'k.pem' }, 'v.db', log), {
    name: 'UsageError',
  });
  assert.equal(await resultKey({ 'ephemeral-key': true }, ':memory:', log), undefined);
});
