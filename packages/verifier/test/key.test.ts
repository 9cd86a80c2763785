import assert from 'node:assert/strict';
import { chmod, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { importJWK, jwtVerify } from 'jose';
import { closers } from '../../../test/fixtures/cleanup.ts';
import { EAR_ISSUER } from '../src/ear.ts';
import { loadOrCreateResultKey, type RunningVerifier, startVerifier, VerifierError } from '../src/index.ts';
import { agentTokens, call, enrolBody, newKey, receiptBody, signBody } from './fixtures.ts';

// Issue 10: the verifier keeps its EAR key across restarts, so a result a client holds (and the
// key id it pinned) still verifies after the verifier restarts.

/** A temp folder removed after whatever the test closes (test/fixtures/cleanup.ts). */
function tempDir(t: TestContext): Promise<string> {
  return closers(t).dir('tmb-vkey-');
}

async function start(dir: string): Promise<RunningVerifier> {
  const { pem } = await loadOrCreateResultKey(join(dir, 'result-key.pem'));
  return startVerifier({
    dbPath: join(dir, 'v.db'),
    tokens: agentTokens('gpu-1'),
    resultKeyPem: pem,
    rateLimit: false,
  });
}

test('a restarted verifier keeps its key id, and an EAR from before the restart still verifies', async (t) => {
  const dir = await tempDir(t);
  const k = newKey('gpu-1');
  const first = await start(dir);
  const kid = (await call(`${first.url}/v1/verifier-key`, 'GET', undefined, null)).json.kid;
  assert.equal((await call(`${first.url}/v1/agents/enroll`, 'POST', enrolBody(k))).status, 200);
  const body = receiptBody(k);
  const pushed = await call(`${first.url}/v1/receipts`, 'POST', {
    agent: 'gpu-1',
    receipts: [signBody(k, body)],
  });
  assert.equal(pushed.json.accepted, 1);
  const ear = (await call(`${first.url}/v1/receipts/${body.id}`, 'GET', undefined, null)).json
    .result as string;
  await first.close();
  const mode = (await stat(join(dir, 'result-key.pem'))).mode & 0o777;
  assert.equal(mode, 0o600);

  const second = await start(dir);
  closers(t).add(() => second.close(), 'restarted verifier');
  const jwk = (await call(`${second.url}/v1/verifier-key`, 'GET', undefined, null)).json;
  assert.equal(jwk.kid, kid, 'same key id after the restart');
  const { payload } = await jwtVerify(ear, await importJWK(jwk as never, 'ES256'), { issuer: EAR_ISSUER });
  assert.equal(
    (payload.submods as Record<string, Record<string, unknown>>)['tmb-receipt']?.['tmb.receipt-id'],
    body.id,
  );
});

test('the key file is created once: a second load reads it, and concurrent first loads agree', async (t) => {
  const dir = await tempDir(t);
  const path = join(dir, 'k.pem');
  const [a, b, c] = await Promise.all([1, 2, 3].map(() => loadOrCreateResultKey(path)));
  assert.equal([a, b, c].filter((r) => r!.created).length, 1, 'exactly one load created it');
  assert.equal(a!.pem, b!.pem);
  assert.equal(b!.pem, c!.pem);
  assert.deepEqual(await loadOrCreateResultKey(path), { pem: a!.pem, created: false });
  assert.equal(await readFile(path, 'utf8'), a!.pem);
});

test('a key file open to other users, or not a P-256 key, is refused naming the path', async (t) => {
  const dir = await tempDir(t);
  const path = join(dir, 'k.pem');
  await loadOrCreateResultKey(path);
  await chmod(path, 0o644);
  await assert.rejects(
    loadOrCreateResultKey(path),
    (err: unknown) =>
      err instanceof VerifierError &&
      err.code === 'VERIFIER_CONFIG_INVALID' &&
      /k\.pem.*mode 644/.test(err.message),
  );
  const junk = join(dir, 'junk.pem');
  await writeFile(junk, 'not a key', { mode: 0o600 });
  await assert.rejects(
    loadOrCreateResultKey(junk),
    (err: unknown) =>
      err instanceof VerifierError && err.code === 'VERIFIER_CONFIG_INVALID' && err.message.includes(junk),
  );
});
