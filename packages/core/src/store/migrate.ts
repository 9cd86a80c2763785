import { CoreError } from '../errors.ts';

/**
 * The part of a SQLite connection the migration runner uses. node:sqlite's `DatabaseSync` fits it
 * as it is; core names only this shape so it stays free of Node imports.
 */
export interface MigrationDb {
  exec(sql: string): void;
  prepare(sql: string): { get(...args: never[]): unknown };
}

/**
 * One schema change. `version` is the schema version the database has after it; versions start
 * at 1 and go up by one. `up` is SQL (one or more statements) or a function over the connection;
 * either runs inside the step's own transaction, so it must not begin or commit one itself.
 * A step, once shipped, is never edited: a later change is a new step.
 */
export interface MigrationStep<D extends MigrationDb = MigrationDb> {
  version: number;
  description: string;
  up: string | ((db: D) => void);
}

/** Options of {@link migrate}. */
export interface MigrateOptions<D extends MigrationDb = MigrationDb> {
  /** Names the store in messages and errors, e.g. `'agent-receipts'` or `'verifier'`. */
  store: string;
  /**
   * Called when the database has no schema version (`PRAGMA user_version` is 0): returns the
   * version its tables already are (1 for a store made before versions were recorded), or 0
   * for an empty database. Left out, an unversioned database is taken as empty.
   */
  detect?: (db: D) => number;
  /** Called after each step commits; services log it. Left out, steps are applied silently. */
  onApplied?: (step: { version: number; description: string }) => void;
}

/** What {@link migrate} did: the version found and the version the database is at now. */
export interface MigrateResult {
  from: number;
  to: number;
}

// PRAGMA user_version is a signed 32-bit integer in the database header (sqlite.org/pragma.html).
const MAX_VERSION = 0x7fffffff;

function userVersion(db: MigrationDb): number {
  const row = db.prepare('PRAGMA user_version').get() as { user_version?: unknown } | undefined;
  const v = row?.user_version;
  const n = typeof v === 'bigint' ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isSafeInteger(n)) return 0;
  return n;
}

function checkSteps(steps: readonly MigrationStep<never>[], store: string): void {
  steps.forEach((s, i) => {
    if (s.version !== i + 1 || s.version > MAX_VERSION)
      throw new CoreError(
        'STORE_MIGRATIONS_INVALID',
        `${store} migrations: step ${i} has version ${s.version}, expected ${i + 1} (versions start at 1, one apart)`,
      );
  });
}

/**
 * Brings a SQLite database to the newest schema of `steps`, one step per transaction, and records
 * the version in `PRAGMA user_version`. A database at version 0 is first given the version
 * `detect` reports (its tables may predate versioning). Each step re-reads the version inside its
 * transaction (`BEGIN IMMEDIATE`), so two processes opening one file apply each step once. A step
 * that throws is rolled back with its version: the database stays at the last step that committed.
 * @returns `{from, to}`: the version found (after `detect`) and the version now.
 * @throws CoreError STORE_SCHEMA_TOO_NEW when the database is newer than the newest step (a newer
 *   build wrote it: it is never opened, to keep an old build from writing a schema it does not know)
 * @throws CoreError STORE_MIGRATION_FAILED when a step throws (its error is the `cause`)
 * @throws CoreError STORE_MIGRATIONS_INVALID when `steps` are not versions 1, 2, ... in order
 * @example
 * const { from, to } = migrate(new DatabaseSync(path), STEPS, {
 *   store: 'verifier',
 *   detect: (db) => (db.prepare("SELECT 1 FROM sqlite_master WHERE name = 'agents'").get() ? 1 : 0),
 * });
 */
export function migrate<D extends MigrationDb>(
  db: D,
  steps: readonly MigrationStep<D>[],
  options: MigrateOptions<D>,
): MigrateResult {
  const { store } = options;
  checkSteps(steps, store);
  const newest = steps.length;
  let from = userVersion(db);
  if (from === 0 && options.detect !== undefined) {
    const found = options.detect(db);
    if (!Number.isSafeInteger(found) || found < 0 || found > MAX_VERSION)
      throw new CoreError('STORE_MIGRATIONS_INVALID', `${store} detect returned ${found}, not a version`);
    from = found;
  }
  if (from > newest) throw tooNew(store, from, newest);
  if (from > 0 && userVersion(db) === 0)
    transaction(db, store, from, 'record the detected version', () => {});
  for (const step of steps) {
    if (step.version <= from) continue;
    const applied = transaction(db, store, step.version, step.description, () => {
      if (typeof step.up === 'string') db.exec(step.up);
      else step.up(db);
    });
    if (applied) options.onApplied?.({ version: step.version, description: step.description });
  }
  const to = userVersion(db);
  if (to > newest) throw tooNew(store, to, newest);
  return { from, to };
}

function tooNew(store: string, found: number, newest: number): CoreError {
  return new CoreError(
    'STORE_SCHEMA_TOO_NEW',
    `${store} database is at schema version ${found}, this build knows up to ${newest}: use a newer build`,
  );
}

/**
 * Runs `body` and sets the version to `version` in one transaction, unless the database is already
 * at or past it (another process got there first). Returns whether it ran.
 */
function transaction(
  db: MigrationDb,
  store: string,
  version: number,
  what: string,
  body: () => void,
): boolean {
  db.exec('BEGIN IMMEDIATE');
  try {
    if (userVersion(db) >= version) {
      db.exec('COMMIT');
      return false;
    }
    body();
    // version is a checked integer: safe to put in the statement (PRAGMA takes no parameters).
    db.exec(`PRAGMA user_version = ${version}`);
    db.exec('COMMIT');
    return true;
  } catch (err) {
    try {
      db.exec('ROLLBACK');
    } catch {
      // SQLite may already have rolled back (some errors end the transaction themselves).
    }
    throw new CoreError(
      'STORE_MIGRATION_FAILED',
      `${store} migration to version ${version} (${what}) failed: ${err instanceof Error ? err.message : String(err)}`,
      { cause: err },
    );
  }
}
