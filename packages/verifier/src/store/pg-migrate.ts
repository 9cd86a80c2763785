import { CoreError } from '@tmb/core';
import type { MigrateResult } from '@tmb/core/store';
import { type Sql, transaction } from './pg-connect.ts';

/**
 * One schema change of a PostgreSQL store: `up` is SQL (one or more statements, no parameters),
 * run in the step's own transaction (PostgreSQL's DDL is transactional). Versions start at 1 and
 * go up by one. Append only: a shipped step is never edited or removed.
 */
export interface PgMigrationStep {
  version: number;
  description: string;
  up: string;
}

/** Options of {@link migratePg}. */
export interface PgMigrateOptions {
  /** Names the store in `tmb_schema` and in messages: `'verifier'`, `'verifier-telemetry'`. */
  store: string;
  /** Called after each step commits; the server logs it. Left out: silent. */
  onApplied?: (step: { version: number; description: string }) => void;
}

// Every step takes this transaction-scoped advisory lock first, so two processes starting at
// once apply each step once (the second waits, then finds the version moved). An arbitrary
// constant: 'tmbschm' in ASCII.
const MIGRATION_LOCK = 0x746d6273_63686dn;

const SCHEMA_TABLE = `CREATE TABLE IF NOT EXISTS tmb_schema (
  store TEXT COLLATE "C" NOT NULL,
  version INTEGER NOT NULL,
  description TEXT NOT NULL,
  applied_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  PRIMARY KEY (store, version)
)`;

/**
 * Brings a PostgreSQL database to the newest schema of `steps` for one store, one step per
 * transaction, recording each in `tmb_schema` (store, version, description, applied_at). The
 * PostgreSQL twin of @tmb/core/store's migrate: the same semantics and codes.
 * @throws CoreError STORE_SCHEMA_TOO_NEW when the database holds a version past the newest step
 * @throws CoreError STORE_MIGRATION_FAILED when a step fails (rolled back; its error is the cause)
 * @throws CoreError STORE_MIGRATIONS_INVALID when `steps` are not versions 1, 2, ... in order
 */
export async function migratePg(
  sql: Sql,
  steps: readonly PgMigrationStep[],
  o: PgMigrateOptions,
): Promise<MigrateResult> {
  steps.forEach((s, i) => {
    if (s.version !== i + 1)
      throw new CoreError(
        'STORE_MIGRATIONS_INVALID',
        `${o.store} migrations: step ${i} has version ${s.version}, expected ${i + 1}`,
      );
  });
  const newest = steps.length;
  let from: number | undefined;
  for (;;) {
    const step = await transaction(sql, async (tx) => {
      await tx`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK.toString()}::bigint)`;
      await tx.unsafe(SCHEMA_TABLE);
      const [row] = await tx<{ v: number | null }[]>`
        SELECT max(version) AS v FROM tmb_schema WHERE store = ${o.store}`;
      const at = row?.v ?? 0;
      from ??= at;
      if (at > newest) throw tooNew(o.store, at, newest);
      const next = steps[at];
      if (next === undefined) return undefined;
      try {
        await tx.unsafe(next.up);
      } catch (cause) {
        throw new CoreError(
          'STORE_MIGRATION_FAILED',
          `${o.store} migration to version ${next.version} (${next.description}) failed`,
          { cause },
        );
      }
      await tx`INSERT INTO tmb_schema (store, version, description)
        VALUES (${o.store}, ${next.version}, ${next.description})`;
      return next;
    });
    if (step === undefined) break;
    o.onApplied?.({ version: step.version, description: step.description });
  }
  return { from: from ?? 0, to: newest };
}

function tooNew(store: string, found: number, newest: number): CoreError {
  return new CoreError(
    'STORE_SCHEMA_TOO_NEW',
    `${store} database is at schema version ${found}, this build knows up to ${newest}: use a newer build`,
  );
}
