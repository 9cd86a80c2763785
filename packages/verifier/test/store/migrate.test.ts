import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { type TestContext, test } from 'node:test';
import { CoreError } from '@tmb/core';
import { SqliteStore, VERIFIER_MIGRATIONS } from '@tmb/verifier';
import { closers } from '../../../../test/fixtures/cleanup.ts';
import { SqliteTelemetryStore } from '../../src/telemetry/store.ts';

const NEWEST = VERIFIER_MIGRATIONS.length;

/** A temp folder removed after whatever the test closes (test/fixtures/cleanup.ts). */
function tempDir(t: TestContext): Promise<string> {
  return closers(t).dir('tmb-vmigrate-');
}

function userVersion(path: string): number {
  const db = new DatabaseSync(path, { readOnly: true });
  try {
    return (db.prepare('PRAGMA user_version').get() as { user_version: number }).user_version;
  } finally {
    db.close();
  }
}

test('a database made by the build before versions (schema v1, no user_version) is migrated and keeps its rows', async (t) => {
  const path = join(await tempDir(t), 'old.db');
  const old = new DatabaseSync(path);
  old.exec('PRAGMA journal_mode = WAL');
  old.exec(await readFile(new URL('./fixtures/schema-v1.sql', import.meta.url), 'utf8'));
  const key = new Uint8Array(32).fill(7);
  old.prepare('INSERT INTO agent_keys VALUES (?, ?, ?, ?)').run('k1', 'gpu-1', key, 1000);
  old
    .prepare('INSERT INTO receipts VALUES (?, ?, ?, ?, ?, ?, ?)')
    .run('r1', 'req-1', 'gpu-1', 'k1', new Uint8Array([1, 2, 3]), new Uint8Array(64), 2000);
  old.prepare('INSERT INTO log_leaves VALUES (?, ?, ?)').run('gpu-1', 0, new Uint8Array(32).fill(9));
  old.prepare('INSERT INTO attest_agents VALUES (?, ?)').run('gpu-1', '{"v":1}');
  old.prepare('INSERT INTO key_runs VALUES (?, ?, ?)').run('k1', 'gpu-1', 0);
  old.prepare('INSERT INTO ak_allowances VALUES (?, ?)').run('gpu-1', 3000);
  assert.equal((old.prepare('PRAGMA user_version').get() as { user_version: number }).user_version, 0);
  old.close();

  const applied: number[] = [];
  const s = new SqliteStore(path, { onMigrated: (step) => applied.push(step.version) });
  closers(t).add(() => s.close(), 'store');
  assert.deepEqual(s.schema, { from: 1, to: NEWEST });
  assert.deepEqual(
    applied,
    VERIFIER_MIGRATIONS.slice(1).map((m) => m.version),
  );
  assert.deepEqual(await s.getKey('k1'), { keyId: 'k1', agent: 'gpu-1', key, enrolledAt: 1000 });
  const r = await s.getReceipt('r1');
  assert.equal(r?.requestId, 'req-1');
  assert.deepEqual(r?.body, new Uint8Array([1, 2, 3]));
  assert.deepEqual(await s.leaves('gpu-1', 0, 10), [{ seq: 0, hash: new Uint8Array(32).fill(9) }]);
  assert.equal(await s.getAttest('gpu-1'), '{"v":1}');
  assert.deepEqual(await s.firstSeqs('gpu-1'), new Map([['k1', 0]]));
  assert.equal(await s.takeAkAllowance('gpu-1'), true);
  await s.close();
  assert.equal(userVersion(path), NEWEST);
});

test('a new database gets every step; reopening applies none', async (t) => {
  const path = join(await tempDir(t), 'new.db');
  const applied: number[] = [];
  const a = new SqliteStore(path, { onMigrated: (step) => applied.push(step.version) });
  assert.deepEqual(a.schema, { from: 0, to: NEWEST });
  await a.close();
  assert.deepEqual(
    applied,
    VERIFIER_MIGRATIONS.map((m) => m.version),
  );
  const b = new SqliteStore(path, { onMigrated: () => assert.fail('nothing to apply') });
  assert.deepEqual(b.schema, { from: NEWEST, to: NEWEST });
  await b.close();
});

test('a database written by a newer build is refused with STORE_SCHEMA_TOO_NEW and not changed', async (t) => {
  const path = join(await tempDir(t), 'newer.db');
  await new SqliteStore(path).close();
  const db = new DatabaseSync(path);
  db.exec(`PRAGMA user_version = ${NEWEST + 1}`);
  db.close();
  assert.throws(
    () => new SqliteStore(path),
    (err: unknown) => err instanceof CoreError && err.code === 'STORE_SCHEMA_TOO_NEW',
  );
  assert.equal(userVersion(path), NEWEST + 1);
});

test('the migration list is versions 1, 2, ... and version 1 is the frozen pre-version schema', async () => {
  for (const [i, m] of VERIFIER_MIGRATIONS.entries()) assert.equal(m.version, i + 1);
  const fixture = await readFile(new URL('./fixtures/schema-v1.sql', import.meta.url), 'utf8');
  const sql = (text: string) =>
    text
      .split('\n')
      .filter((l) => !l.startsWith('--'))
      .join('\n')
      .trim();
  assert.equal(sql(VERIFIER_MIGRATIONS[0]!.up as string), sql(fixture));
});

test('the telemetry database of a build before versions is recorded as version 1 and keeps its chains', async (t) => {
  const path = join(await tempDir(t), 'v.db.telemetry');
  const old = new DatabaseSync(path);
  // tm_chain as the build before versions made it (telemetry/store.ts SCHEMA, first table).
  old.exec(`CREATE TABLE tm_chain (agent TEXT PRIMARY KEY, chain INTEGER NOT NULL, next_seq INTEGER NOT NULL,
    head BLOB NOT NULL, restarts INTEGER NOT NULL) WITHOUT ROWID`);
  old
    .prepare('INSERT INTO tm_chain VALUES (?, ?, ?, ?, ?)')
    .run('gpu-1', 2, 7, new Uint8Array(32).fill(1), 1);
  old.close();
  const s = new SqliteTelemetryStore(path, 1000);
  closers(t).add(() => s.close(), 'store');
  assert.deepEqual(await s.chain('gpu-1'), {
    chain: 2,
    nextSeq: 7,
    head: new Uint8Array(32).fill(1),
    restarts: 1,
  });
  assert.equal(userVersion(path), 1);
});
