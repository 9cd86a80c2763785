import assert from 'node:assert/strict';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { test } from 'node:test';
import { tempDir } from '../../../../test/fixtures/cleanup.ts';
import { CoreError } from '../../src/errors.ts';
import { type MigrationStep, migrate } from '../../src/store/index.ts';

const STEPS: MigrationStep<DatabaseSync>[] = [
  { version: 1, description: 'items', up: 'CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL)' },
  {
    version: 2,
    description: 'items.size',
    up: 'ALTER TABLE items ADD COLUMN size INTEGER NOT NULL DEFAULT 0',
  },
  {
    version: 3,
    description: 'size from name',
    up: (db) => {
      db.exec('UPDATE items SET size = length(name)');
    },
  },
];

const hasItems = (db: DatabaseSync): number =>
  db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'items'").get() ? 1 : 0;

function version(db: DatabaseSync): number {
  return (db.prepare('PRAGMA user_version').get() as { user_version: number }).user_version;
}

function codeOf(code: string) {
  return (err: unknown) => err instanceof CoreError && err.code === code;
}

test('an empty database gets every step, one version each, and reports {from: 0, to: newest}', () => {
  const db = new DatabaseSync(':memory:');
  const applied: number[] = [];
  const r = migrate(db, STEPS, {
    store: 'test',
    detect: hasItems,
    onApplied: (s) => applied.push(s.version),
  });
  assert.deepEqual(r, { from: 0, to: 3 });
  assert.deepEqual(applied, [1, 2, 3]);
  assert.equal(version(db), 3);
  db.exec("INSERT INTO items (name, size) VALUES ('a', 1)");
});

test('a database made before versions were recorded is detected as version 1 and keeps its rows', () => {
  const db = new DatabaseSync(':memory:');
  db.exec(
    "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL); INSERT INTO items (name) VALUES ('abcd')",
  );
  assert.equal(version(db), 0);
  const r = migrate(db, STEPS, { store: 'test', detect: hasItems });
  assert.deepEqual(r, { from: 1, to: 3 });
  assert.deepEqual({ ...db.prepare('SELECT name, size FROM items').get() }, { name: 'abcd', size: 4 });
});

test('a detected version with no later step is still recorded', () => {
  const db = new DatabaseSync(':memory:');
  db.exec('CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL)');
  assert.deepEqual(migrate(db, STEPS.slice(0, 1), { store: 'test', detect: hasItems }), { from: 1, to: 1 });
  assert.equal(version(db), 1);
});

test('running again is a no-op: {from: newest, to: newest}', () => {
  const db = new DatabaseSync(':memory:');
  migrate(db, STEPS, { store: 'test' });
  const applied: number[] = [];
  assert.deepEqual(migrate(db, STEPS, { store: 'test', onApplied: (s) => applied.push(s.version) }), {
    from: 3,
    to: 3,
  });
  assert.deepEqual(applied, []);
});

test('a database newer than the code is refused with STORE_SCHEMA_TOO_NEW and left untouched', () => {
  const db = new DatabaseSync(':memory:');
  migrate(db, STEPS, { store: 'test' });
  db.exec('PRAGMA user_version = 4');
  assert.throws(
    () => migrate(db, STEPS, { store: 'verifier' }),
    (err: unknown) => {
      assert.ok(err instanceof CoreError);
      assert.equal(err.code, 'STORE_SCHEMA_TOO_NEW');
      assert.match(err.message, /verifier.*version 4.*up to 3/);
      return true;
    },
  );
  assert.equal(version(db), 4);
});

test('a failing step is rolled back with its version; earlier steps stay committed', () => {
  const db = new DatabaseSync(':memory:');
  const bad: MigrationStep<DatabaseSync>[] = [
    ...STEPS.slice(0, 2),
    {
      version: 3,
      description: 'half then fail',
      up: (d) => {
        d.exec('CREATE TABLE other (x)');
        throw new Error('boom');
      },
    },
  ];
  assert.throws(
    () => migrate(db, bad, { store: 'test' }),
    (err: unknown) => {
      assert.ok(err instanceof CoreError);
      assert.equal(err.code, 'STORE_MIGRATION_FAILED');
      assert.match(err.message, /version 3 \(half then fail\).*boom/);
      assert.equal((err.cause as Error).message, 'boom');
      return true;
    },
  );
  assert.equal(version(db), 2);
  assert.equal(db.prepare("SELECT 1 FROM sqlite_master WHERE name = 'other'").get(), undefined);
  assert.equal(db.isTransaction, false);
  // The fixed build then migrates from 2.
  assert.deepEqual(migrate(db, STEPS, { store: 'test' }), { from: 2, to: 3 });
});

test('a failing SQL step (bad statement) is STORE_MIGRATION_FAILED too', () => {
  const db = new DatabaseSync(':memory:');
  const bad = [{ version: 1, description: 'typo', up: 'CREATE TABEL x (y)' }];
  assert.throws(() => migrate(db, bad, { store: 'test' }), codeOf('STORE_MIGRATION_FAILED'));
  assert.equal(version(db), 0);
});

test('steps that are not 1, 2, ... in order are refused before anything runs', () => {
  const db = new DatabaseSync(':memory:');
  for (const steps of [[STEPS[1]!], [STEPS[0]!, STEPS[2]!], [STEPS[1]!, STEPS[0]!], [STEPS[0]!, STEPS[0]!]]) {
    assert.throws(() => migrate(db, steps, { store: 'test' }), codeOf('STORE_MIGRATIONS_INVALID'));
    assert.equal(version(db), 0);
  }
  assert.throws(
    () => migrate(db, STEPS, { store: 'test', detect: () => -1 }),
    codeOf('STORE_MIGRATIONS_INVALID'),
  );
  assert.throws(
    () => migrate(db, STEPS, { store: 'test', detect: () => 1.5 }),
    codeOf('STORE_MIGRATIONS_INVALID'),
  );
});

test('a detected version past the code is STORE_SCHEMA_TOO_NEW', () => {
  const db = new DatabaseSync(':memory:');
  assert.throws(() => migrate(db, STEPS, { store: 'test', detect: () => 9 }), codeOf('STORE_SCHEMA_TOO_NEW'));
});

test('two connections to one file: the second finds the work done, each step applied once', async (t) => {
  // The connections close before the folder goes (test/fixtures/cleanup.ts).
  const { dir, closers: c } = await tempDir(t, 'tmb-migrate-');
  const a = new DatabaseSync(join(dir, 'x.db'));
  c.add(() => a.close(), 'connection a');
  const b = new DatabaseSync(join(dir, 'x.db'));
  c.add(() => b.close(), 'connection b');
  let runs = 0;
  const counted: MigrationStep<DatabaseSync>[] = [
    ...STEPS,
    {
      version: 4,
      description: 'count',
      up: (d) => {
        runs++;
        d.exec('CREATE TABLE counted (x)');
      },
    },
  ];
  // b was opened before a migrated; it reads the version a committed and applies nothing.
  assert.deepEqual(migrate(a, counted, { store: 'test' }), { from: 0, to: 4 });
  assert.deepEqual(migrate(b, counted, { store: 'test' }), { from: 4, to: 4 });
  assert.equal(runs, 1);
});

test('a step re-checks the version inside its transaction (a racing process already applied it)', () => {
  const db = new DatabaseSync(':memory:');
  let applied = 0;
  // detect runs before the transactions: simulate another process finishing step 1 in between.
  const r = migrate(db, STEPS.slice(0, 1), {
    store: 'test',
    detect: (d) => {
      d.exec(STEPS[0]!.up as string);
      d.exec('PRAGMA user_version = 1');
      return 0;
    },
    onApplied: () => applied++,
  });
  assert.deepEqual(r, { from: 0, to: 1 });
  assert.equal(applied, 0);
});
