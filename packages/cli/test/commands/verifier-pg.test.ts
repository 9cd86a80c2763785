// `tmb verifier` on PostgreSQL (issue 12): the URL from --db-url-file or TMB_DATABASE_URL, never a
// flag value and never in a log line; two processes on one database; allow-ak writes there too.
// A real server: test/fixtures/pg.ts (skipped with an install hint where there is none).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, test } from 'node:test';
import { tempDir } from '../../../../test/fixtures/cleanup.ts';
import { type PgServer, pgSkip, startPg } from '../../../../test/fixtures/pg.ts';

const MAIN = new URL('../../src/main.ts', import.meta.url).pathname;
const TOKEN = 'pg-cli-token-0123456789';

const skip = pgSkip();
let pg: PgServer | undefined;
before(async () => {
  if (skip === false) pg = await startPg();
});
after(() => pg?.close());

interface Exited {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `tmb ARGS` to its end (60 s bound). */
function tmb(args: string[], env: Record<string, string> = {}): Promise<Exited> {
  const child = spawn(process.execPath, [MAIN, ...args], { env: { ...process.env, ...env } });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => {
    stdout += d;
  });
  child.stderr.on('data', (d) => {
    stderr += d;
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  return new Promise((resolve) =>
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    }),
  );
}

/** Starts `tmb verifier ARGS` and waits for its {"listening"} line. */
async function serve(args: string[], env: Record<string, string> = {}) {
  const child = spawn(process.execPath, [MAIN, 'verifier', '--port', '0', ...args], {
    env: { ...process.env, ...env },
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
  return {
    url: (JSON.parse(first) as { listening: string }).listening,
    logs: () => stderr,
    stop: async () => {
      child.kill('SIGTERM');
      return exited;
    },
  };
}

test('two tmb verifier processes share one database given by file and by environment', {
  skip,
}, async (t) => {
  // The processes stop (last started first) before the folder goes: test/fixtures/cleanup.ts.
  const { dir, closers: c } = await tempDir(t, 'tmb-cli-pg-');
  const url = await pg!.newDatabase();
  const password = new URL(url).password;
  const urlFile = join(dir, 'db-url');
  await writeFile(urlFile, `${url}\n`, { mode: 0o600 });
  const tokens = join(dir, 'tokens');
  await writeFile(tokens, `${TOKEN} gpu-1\n`);
  const common = ['--tokens-file', tokens, '--result-key', join(dir, 'key.pem'), '--db-pool', '3'];
  const a = await serve(['--db-url-file', urlFile, ...common]);
  c.add(() => a.stop(), 'verifier a');
  const b = await serve(common, { TMB_DATABASE_URL: url });
  c.add(() => b.stop(), 'verifier b');
  // A key enrolled through one process is listed by the other (from the shared database).
  const { createHash, generateKeyPairSync, sign } = await import('node:crypto');
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const raw = new Uint8Array(publicKey.export({ format: 'der', type: 'spki' }).subarray(12));
  const proof = sign(null, Buffer.concat([Buffer.from('tmb.enroll.v1\ngpu-1\n'), raw]), privateKey);
  const enrolled = await fetch(`${a.url}/v1/agents/enroll`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({
      agent: 'gpu-1',
      key: Buffer.from(raw).toString('base64url'),
      proof: proof.toString('base64url'),
    }),
  });
  assert.equal(enrolled.status, 200);
  const agents = await fetch(`${b.url}/v1/agents`, { headers: { authorization: `Bearer ${TOKEN}` } });
  const listed = (await agents.json()) as { agents: { agent: string; keys: { keyId: string }[] }[] };
  assert.deepEqual(
    listed.agents.map((x) => [x.agent, x.keys.map((k) => k.keyId)]),
    [['gpu-1', [createHash('sha256').update(raw).digest('hex')]]],
  );
  const allow = await tmb(['verifier', 'allow-ak', '--db-url-file', urlFile, '--agent', 'gpu-1']);
  assert.equal(allow.code, 0, allow.stderr);
  assert.deepEqual(JSON.parse(allow.stdout), { allowed: 'gpu-1' });
  assert.equal(await a.stop(), 0);
  assert.equal(await b.stop(), 0);
  const logs = a.logs() + b.logs();
  assert.match(logs, /"store":"postgres"/);
  assert.ok(!logs.includes(password), 'the password is in no log line');
});

test('a wrong password stops tmb verifier with STORE_AUTH_FAILED, the password not shown', {
  skip,
}, async (t) => {
  const { dir } = await tempDir(t, 'tmb-cli-pg-');
  const wrong = new URL(pg!.adminUrl);
  wrong.password = 'Wrong-Password-31337';
  const tokens = join(dir, 'tokens');
  await writeFile(tokens, `${TOKEN} gpu-1\n`);
  const r = await tmb(
    ['verifier', '--json', '--tokens-file', tokens, '--ephemeral-key', '--db', ':memory:'],
    {
      TMB_DATABASE_URL: wrong.toString(),
    },
  );
  assert.notEqual(r.code, 0);
  const { error } = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as {
    error: { code: string; message: string };
  };
  assert.equal(error.code, 'STORE_AUTH_FAILED');
  assert.ok(!(r.stdout + r.stderr).includes('Wrong-Password-31337'));
  const empty = await tmb(['verifier', '--tokens-file', tokens, '--ephemeral-key', '--db', ':memory:'], {
    TMB_DATABASE_URL: ' ',
  });
  assert.equal(empty.code, 2, 'an empty TMB_DATABASE_URL is a usage error');
});
