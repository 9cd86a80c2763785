import { VerifierError } from '../errors.ts';
import { type AgentLock, KeyedLock } from '../lock.ts';
import type { TelemetryStore } from '../telemetry/store.ts';
import { PgStore } from './pg.ts';
import { checkConnection, type PgPoolOptions, pgPool } from './pg-connect.ts';
import { PgAgentLock } from './pg-lock.ts';
import { PgTelemetryStore } from './pg-telemetry.ts';
import { SqliteStore } from './sqlite.ts';
import type { Store } from './types.ts';

/** Pool settings of the PostgreSQL store (VerifierOptions.databasePool, docs/deploy.md). */
export interface DatabasePoolOptions extends PgPoolOptions {
  /** Connections of the per-agent lock's own pool: how many agents one process can hold locked
   * at once (more wait for a connection); the work under each lock runs its store statements on
   * that connection. Default 10. */
  lockConnections?: number;
  /** Longest wait for an agent's lock, ms (the lock pool's statement timeout, which also bounds
   * each store statement of the work under the lock: it runs in the lock's transaction). Default 30,000. */
  lockWaitMs?: number;
}

/** What {@link openStore} opens. */
export interface OpenStoreOptions {
  /** SQLite file (or ':memory:'), used when `databaseUrl` is left out. */
  dbPath: string;
  /** PostgreSQL URL (postgres://user:password@host:port/db). Never logged, never in errors. */
  databaseUrl?: string;
  databasePool?: DatabasePoolOptions;
  /** Samples kept per agent (VerifierTelemetryOptions.retainSamples). Default 360,000. */
  retainSamples?: number;
  /** Called for each migration step applied (the server logs it). */
  onMigrated?: (step: { store: string; version: number; description: string }) => void;
}

/** The opened store, its telemetry store and the per-agent lock that go with it. */
export interface OpenedStore {
  kind: 'sqlite' | 'postgres';
  store: Store;
  /** The telemetry store on the same database; undefined for SQLite (TelemetryService opens
   * `<dbPath>.telemetry` itself). */
  telemetry: TelemetryStore | undefined;
  /** Per agent name: KeyedLock in one process (SQLite), PgAgentLock across processes (PostgreSQL). */
  lock: AgentLock;
  /** The receipt store's schema version now. */
  schema: number;
  /** Closes the lock's pool and the store (and with it the telemetry store's tables). */
  close(): Promise<void>;
}

/**
 * Opens the verifier's store: PostgreSQL when `databaseUrl` is given (several processes may share
 * it), else SQLite at `dbPath` (one process). Migrates either to the newest schema.
 * @throws VerifierError STORE_FAILED | STORE_UNREACHABLE | STORE_AUTH_FAILED | VERIFIER_CONFIG_INVALID
 * @throws CoreError STORE_SCHEMA_TOO_NEW
 */
export async function openStore(o: OpenStoreOptions): Promise<OpenedStore> {
  if (o.databaseUrl === undefined) {
    const store = new SqliteStore(o.dbPath, {
      onMigrated: (m) => o.onMigrated?.({ store: 'verifier', ...m }),
    });
    return {
      kind: 'sqlite',
      store,
      telemetry: undefined,
      lock: new KeyedLock(),
      schema: store.schema.to,
      close: () => store.close(),
    };
  }
  return openPg(o.databaseUrl, o);
}

async function openPg(url: string, o: OpenStoreOptions): Promise<OpenedStore> {
  const retain = o.retainSamples ?? 360_000;
  if (!Number.isSafeInteger(retain) || retain <= 0)
    throw new VerifierError('VERIFIER_CONFIG_INVALID', 'retainSamples must be a positive integer');
  const pool = o.databasePool ?? {};
  const store = await PgStore.open(url, {
    ...pool,
    onMigrated: (m) => o.onMigrated?.({ store: 'verifier', ...m }),
  });
  const lockSql = pgPool(
    url,
    {
      max: pool.lockConnections ?? 10,
      connectTimeoutS: pool.connectTimeoutS,
      statementTimeoutMs: pool.lockWaitMs ?? 30_000,
      idleTimeoutS: pool.idleTimeoutS,
    },
    'tmb-verifier-lock',
  );
  try {
    await checkConnection(lockSql, url);
    const telemetry = await PgTelemetryStore.open(store.sql, retain, (m) =>
      o.onMigrated?.({ store: 'verifier-telemetry', ...m }),
    );
    // Store statements under an agent's lock go into the lock's transaction (pg-route.ts).
    const lock = new PgAgentLock(lockSql, store.sql);
    return {
      kind: 'postgres',
      store,
      telemetry,
      lock,
      schema: store.schema.to,
      async close() {
        await lock.close();
        await store.close();
      },
    };
  } catch (err) {
    await lockSql.end({ timeout: 5 });
    await store.close();
    throw err;
  }
}
