import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { buildEntry, encodeBinaryLog } from '@tmb/core/ima';
import { startVerifier } from '../../src/index.ts';

const TOKEN = 'host-route-token-0123456789';
const sha = (b: Uint8Array | string) => new Uint8Array(createHash('sha256').update(b).digest());

async function post(url: string, body: unknown, token: string | null = TOKEN) {
  const res = await fetch(`${url}/v1/host/log`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: res.status, json: (await res.json()) as { error?: { code: string }; entries?: number } };
}

test('POST /v1/host/log: token, agent pin and log bytes are checked; a good log is kept', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'tmb-host-route-'));
  const v = await startVerifier({
    dbPath: join(dir, 'v.db'),
    tokens: [{ token: TOKEN, agent: 'gpu-1' }],
    registry: {
      version: 1,
      models: { m: { weights: [`sha256:${'0'.repeat(64)}`] } },
      engines: {},
      agents: [],
    },
  });
  // After hooks run in the order added: close the verifier (its database is in dir) first.
  t.after(() => v.close());
  t.after(() => rm(dir, { recursive: true, force: true }));
  const key = new Uint8Array(32).fill(9);
  const log = encodeBinaryLog([
    buildEntry({ template: 'ima-buf', digest: sha(key), path: 'tmb.agent-key', extra: key, pcr: 15 }, 0),
    buildEntry({ digest: sha('w'), path: '/m.gguf', pcr: 15 }, 1),
  ]);
  const entries = Buffer.from(log).toString('base64url');
  assert.equal((await post(v.url, { agent: 'gpu-1', entries }, null)).json.error?.code, 'TOKEN_INVALID');
  const other = await post(v.url, { agent: 'gpu-2', entries });
  assert.deepEqual([other.status, other.json.error?.code], [403, 'TOKEN_AGENT_MISMATCH']);
  const notB64 = await post(v.url, { agent: 'gpu-1', entries: 'a+b/' });
  assert.deepEqual([notB64.status, notB64.json.error?.code], [400, 'BODY_MALFORMED']);
  const notLog = await post(v.url, {
    agent: 'gpu-1',
    entries: Buffer.from('not a log at all').toString('base64url'),
  });
  assert.deepEqual([notLog.status, notLog.json.error?.code], [400, 'BODY_MALFORMED']);
  const noEntries = await post(v.url, { agent: 'gpu-1' });
  assert.equal(noEntries.json.error?.code, 'BODY_MALFORMED');
  const ok = await post(v.url, { agent: 'gpu-1', entries });
  assert.deepEqual([ok.status, ok.json], [200, { entries: 2 }]);
});

test('a malformed registry stops startVerifier with VERIFIER_CONFIG_INVALID', async () => {
  await assert.rejects(
    startVerifier({
      dbPath: ':memory:',
      tokens: [],
      registry: '{"version": 1, "models": {"m": {"weights": ["x"]}}}',
    }),
    (e: Error & { code?: string }) =>
      e.code === 'VERIFIER_CONFIG_INVALID' && /REGISTRY_INVALID/.test(e.message),
  );
});
