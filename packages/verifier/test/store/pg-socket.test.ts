// The verifier on PostgreSQL over a unix-domain socket (docs/deploy.md "The URL"): the URL forms
// libpq reads as a socket directory, and a real server's socket (test/fixtures/pg.ts: the private
// cluster listens on one in its temp dir; scripts/pg-start's in TMB_TEST_PG_DIR).
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { startVerifier, VerifierError } from '@tmb/verifier';
import { type PgServer, pgSkip, socketUrl, startPg } from '../../../../test/fixtures/pg.ts';
import { openStore } from '../../src/store/open.ts';
import { PgStore } from '../../src/store/pg.ts';
import { redactUrl, socketTarget } from '../../src/store/pg-connect.ts';
import { agentTokens, call, enrolBody, newKey, receiptBody, signBody } from '../fixtures.ts';

const skip = pgSkip();
let pg: PgServer | undefined;
before(async () => {
  if (skip !== false) return;
  pg = await startPg();
  // CI's server (scripts/pg-start) has its socket in TMB_TEST_PG_DIR; where that is not reachable
  // from here, a private cluster of the installed PostgreSQL has one in its own folder.
  if (pg.socketDir === undefined) {
    await pg.close();
    pg = await startPg({ privateCluster: true });
  }
});
after(() => pg?.close());

test('socketTarget reads libpq socket directories: the host parameter and a percent-encoded host', () => {
  assert.deepEqual(socketTarget('postgres://u:p@localhost/db?host=/run/pg&sslmode=disable'), {
    driverUrl: 'postgres://u:p@localhost/db?sslmode=disable',
    socketDir: '/run/pg',
  });
  assert.deepEqual(socketTarget('postgresql://u@%2Frun%2Fpg:5433/db'), {
    driverUrl: 'postgresql://u@localhost:5433/db',
    socketDir: '/run/pg',
  });
  assert.deepEqual(socketTarget('postgres://u:p@db.example:5432/db'), {
    driverUrl: 'postgres://u:p@db.example:5432/db',
  });
  // libpq would take a name here as a TCP host; the verifier asks for the plain form instead.
  for (const bad of ['postgres://u@h/db?host=other-host', 'postgres://u@h/db?host=run/pg'])
    assert.throws(
      () => socketTarget(bad),
      (e: unknown) => e instanceof VerifierError && e.code === 'VERIFIER_CONFIG_INVALID',
    );
  assert.equal(
    redactUrl('postgres://u:secret@localhost/db?host=/run/pg'),
    'postgres://u:***@localhost/db (socket directory /run/pg)',
  );
});

/** The socket directory of the test server (a private cluster's sits in its temp folder). */
function socketDir(): string {
  const dir = pg!.socketDir;
  assert.ok(dir !== undefined, 'the test server has a unix socket (TMB_TEST_PG_DIR, or a private cluster)');
  return dir;
}

test('the store and the lock pool both connect over the socket when the URL names its directory', {
  skip,
}, async (t) => {
  const url = socketUrl(await pg!.newDatabase(), socketDir());
  const opened = await openStore({ dbPath: ':memory:', databaseUrl: url, databasePool: { max: 2 } });
  t.after(() => opened.close());
  const store = opened.store;
  assert.ok(store instanceof PgStore);
  // Inside a lock run the lock pool holds a connection too: every verifier connection of this
  // database is a unix-socket one (client_addr is NULL only for those).
  const sessions = await opened.lock.run('gpu-1', async () => {
    return store.sql<{ application_name: string; tcp: boolean }[]>`SELECT application_name,
        client_addr IS NOT NULL AS tcp FROM pg_stat_activity
      WHERE datname = current_database() AND application_name LIKE 'tmb-verifier%'`;
  });
  const names = new Set(sessions.map((s) => s.application_name));
  assert.deepEqual([...names].sort(), ['tmb-verifier', 'tmb-verifier-lock']);
  assert.ok(
    sessions.every((s) => !s.tcp),
    JSON.stringify(sessions),
  );
});

test('two verifiers over the socket: a key enrolled at one, a receipt pushed at the other, read at both', {
  skip,
}, async (t) => {
  const databaseUrl = socketUrl(await pg!.newDatabase(), socketDir());
  const start = () =>
    startVerifier({
      dbPath: ':memory:',
      databaseUrl,
      databasePool: { max: 2, lockConnections: 2 },
      tokens: agentTokens('gpu-1'),
      rateLimit: false,
    });
  const [a, b] = await Promise.all([start(), start()]);
  t.after(() => Promise.all([a.close(), b.close()]));
  const k = newKey('gpu-1');
  assert.equal((await call(`${a.url}/v1/agents/enroll`, 'POST', enrolBody(k))).status, 200);
  const body = receiptBody(k, { seq: 0 });
  const pushed = await call(`${b.url}/v1/receipts`, 'POST', {
    agent: 'gpu-1',
    receipts: [signBody(k, body)],
  });
  assert.deepEqual(pushed.json, { accepted: 1, duplicate: 0, rejected: [] });
  for (const v of [a, b]) {
    const read = await call(`${v.url}/v1/receipts/${body.id}`, 'GET');
    assert.equal(read.status, 200);
    assert.deepEqual(read.json.body, body);
  }
});

test('a socket directory without a server fails the start with STORE_UNREACHABLE', { skip }, async (t) => {
  const empty = await mkdtemp(join(tmpdir(), 'tmb-nosock-'));
  t.after(() => rm(empty, { recursive: true, force: true }));
  const url = socketUrl(pg!.adminUrl, empty);
  const err = await startVerifier({
    dbPath: ':memory:',
    databaseUrl: url,
    databasePool: { connectTimeoutS: 5 },
    tokens: [],
  }).then(
    () => assert.fail('started without a server'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof VerifierError, String(err));
  assert.equal(err.code, 'STORE_UNREACHABLE');
  assert.ok(!err.message.includes(new URL(pg!.adminUrl).password), err.message);
  assert.match(err.message, /socket directory/);
});
