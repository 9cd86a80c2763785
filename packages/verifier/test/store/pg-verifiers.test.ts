// Two verifier instances, each with its own pools, on one PostgreSQL database: what one is told,
// the other knows (as two processes behind a load balancer). A real server: test/fixtures/pg.ts.
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { after, before, test } from 'node:test';
import { CoreError } from '@tmb/core';
import { leafHash } from '@tmb/core/log';
import { type RunningVerifier, startVerifier, VerifierError } from '@tmb/verifier';
import { type PgServer, pgSkip, startPg } from '../../../../test/fixtures/pg.ts';
import { PgStore } from '../../src/store/pg.ts';
import { agentTokens, call, enrolBody, newKey, receiptBody, signBody, type TestKey } from '../fixtures.ts';

const skip = pgSkip();
let pg: PgServer | undefined;
before(async () => {
  if (skip === false) pg = await startPg();
});
after(() => pg?.close());

const NOW = 1_700_000_000_500;
const resultKeyPem = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  .privateKey.export({ type: 'pkcs8', format: 'pem' })
  .toString();

async function pair(t: {
  after(fn: () => unknown): void;
}): Promise<[RunningVerifier, RunningVerifier, string]> {
  const databaseUrl = await pg!.newDatabase();
  const start = () =>
    startVerifier({
      dbPath: ':memory:',
      databaseUrl,
      databasePool: { max: 3, lockConnections: 2 },
      tokens: agentTokens('gpu-1'),
      rateLimit: false,
      resultKeyPem,
      now: () => NOW,
    });
  // Both at once: the second waits on the migration lock, then finds the schema in place.
  const [a, b] = await Promise.all([start(), start()]);
  t.after(() => Promise.all([a.close(), b.close()]));
  return [a, b, databaseUrl];
}

const push = (v: RunningVerifier, receipts: unknown[]) =>
  call(`${v.url}/v1/receipts`, 'POST', { agent: 'gpu-1', receipts });

test('a key enrolled at one verifier signs receipts the other accepts; verdicts read alike', {
  skip,
}, async (t) => {
  const [a, b] = await pair(t);
  const k = newKey('gpu-1');
  assert.equal((await call(`${a.url}/v1/agents/enroll`, 'POST', enrolBody(k))).status, 200);
  const body = receiptBody(k, { seq: 0 });
  const pushed = await push(b, [signBody(k, body)]);
  assert.deepEqual(pushed.json, { accepted: 1, duplicate: 0, rejected: [] });
  const [ra, rb] = await Promise.all([
    call(`${a.url}/v1/receipts/${body.id}`, 'GET'),
    call(`${b.url}/v1/receipts/${body.id}`, 'GET'),
  ]);
  assert.equal(ra.status, 200);
  assert.deepEqual(ra.json.verdict, rb.json.verdict, 'the same verdict from either process');
  assert.equal((ra.json.verdict as { level: string }).level, 'L0');
  assert.deepEqual(ra.json.body, body);
});

test('concurrent pushes of one agent through both verifiers keep one consistent log', { skip }, async (t) => {
  const [a, b, url] = await pair(t);
  const k: TestKey = newKey('gpu-1');
  assert.equal((await call(`${b.url}/v1/agents/enroll`, 'POST', enrolBody(k))).status, 200);
  const bodies = Array.from({ length: 60 }, (_, seq) => receiptBody(k, { seq }));
  const wires = bodies.map((x) => signBody(k, x));
  // Batches of 10, each sent to both verifiers at once: every receipt arrives twice, racing.
  const results = await Promise.all(
    Array.from({ length: 6 }, (_, i) => wires.slice(i * 10, i * 10 + 10)).flatMap((batch) => [
      push(a, batch),
      push(b, batch),
    ]),
  );
  const sum = (f: 'accepted' | 'duplicate') => results.reduce((n, r) => n + (r.json[f] as number), 0);
  assert.ok(results.every((r) => r.status === 200 && (r.json.rejected as unknown[]).length === 0));
  assert.equal(sum('accepted'), 60, 'each receipt stored once');
  assert.equal(sum('duplicate'), 60, 'and counted a duplicate at the other');
  // Two different receipts for one free log position, one to each verifier: one wins.
  const [x, y] = [receiptBody(k, { seq: 60 }), receiptBody(k, { seq: 60 })];
  const race = await Promise.all([push(a, [signBody(k, x)]), push(b, [signBody(k, y)])]);
  assert.equal(
    race.reduce((n, r) => n + (r.json.accepted as number), 0),
    1,
  );
  assert.deepEqual(
    race.flatMap((r) => (r.json.rejected as { code: string }[]).map((e) => e.code)),
    ['RECEIPT_SEQ_TAKEN'],
  );
  const store = await PgStore.open(url, { max: 1 });
  t.after(() => store.close());
  const leaves = await store.leaves('gpu-1', 0, 100);
  assert.deepEqual(
    leaves.map((l) => l.seq),
    Array.from({ length: 61 }, (_, i) => i),
  );
  for (const [i, w] of wires.entries())
    assert.deepEqual(leaves[i]!.hash, leafHash(Buffer.from(w.body, 'base64url')), `leaf ${i}`);
});

test('a wrong password or an unreachable server fails the start with a named code, no password shown', {
  skip,
}, async () => {
  const good = new URL(pg!.adminUrl);
  const secret = 'not-the-Password-4711';
  const wrong = new URL(good);
  wrong.password = secret;
  const refused = await startVerifier({ dbPath: ':memory:', databaseUrl: wrong.toString(), tokens: [] }).then(
    () => assert.fail('started with a wrong password'),
    (e: unknown) => e,
  );
  assert.ok(refused instanceof VerifierError, String(refused));
  assert.equal(refused.code, 'STORE_AUTH_FAILED');
  assert.ok(!refused.message.includes(secret) && !refused.message.includes(good.password), refused.message);
  assert.match(refused.message, /\*\*\*/);
  // Port 1 on 127.0.0.1: nothing listens there, the connection is refused.
  const closed = new URL(good);
  closed.port = '1';
  const unreachable = await startVerifier({
    dbPath: ':memory:',
    databaseUrl: closed.toString(),
    databasePool: { connectTimeoutS: 5 },
    tokens: [],
  }).then(
    () => assert.fail('started without a server'),
    (e: unknown) => e,
  );
  assert.ok(unreachable instanceof VerifierError);
  assert.equal(unreachable.code, 'STORE_UNREACHABLE');
  assert.ok(!unreachable.message.includes(good.password), unreachable.message);
});

test('a database a newer build migrated is refused with STORE_SCHEMA_TOO_NEW', { skip }, async () => {
  const url = await pg!.newDatabase();
  const first = await PgStore.open(url, { max: 1 });
  const newest = first.schema.to;
  await first.sql`INSERT INTO tmb_schema (store, version, description) VALUES ('verifier', ${newest + 1}, 'from the future')`;
  await first.close();
  await assert.rejects(
    PgStore.open(url, { max: 1 }),
    (e: unknown) => e instanceof CoreError && e.code === 'STORE_SCHEMA_TOO_NEW',
  );
});

test('two stores opening one new database at once apply each migration once', { skip }, async () => {
  const url = await pg!.newDatabase();
  const stores = await Promise.all(Array.from({ length: 3 }, () => PgStore.open(url, { max: 1 })));
  try {
    const rows = await stores[0]!
      .sql`SELECT version FROM tmb_schema WHERE store = 'verifier' ORDER BY version`;
    assert.deepEqual(
      rows.map((r) => r.version),
      Array.from({ length: stores[0]!.schema.to }, (_, i) => i + 1),
    );
    assert.deepEqual(
      stores.map((s) => s.schema.to),
      [stores[0]!.schema.to, stores[0]!.schema.to, stores[0]!.schema.to],
    );
  } finally {
    await Promise.all(stores.map((s) => s.close()));
  }
});
