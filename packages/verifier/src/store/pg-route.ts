import { AsyncLocalStorage } from 'node:async_hooks';
import type postgres from 'postgres';
import { VerifierError } from '../errors.ts';
import { isConnectionLost, type Sql } from './pg-connect.ts';

/**
 * Where a store's statements go while an agent's lock is held (PgAgentLock.run): onto the lock's
 * own transaction, after its `pg_advisory_xact_lock`, instead of the store's pool. So the work
 * done under the lock needs no second connection, its statements issued together go out in one
 * socket write (postgres.js pipelines queries on one connection), and it commits once.
 */
interface Route {
  /** The store pool whose statements are routed (another pool's are not). */
  pool: Sql;
  /** The transaction, seen through {@link guarded}. */
  tx: Sql;
  /** False once the run has ended, or its connection was lost: nothing more may go on `tx`. */
  open: boolean;
  lost: boolean;
}

const current = new AsyncLocalStorage<Route>();

/** A route while it lasts: what runs in it, and the calls that end it. */
export interface RouteHandle {
  /** Runs `fn` with the pool's statements routed onto the transaction ({@link via}). */
  run<T>(fn: () => Promise<T> | T): Promise<T>;
  /** The connection is gone: later statements of the run reject, none is written. */
  lost(): void;
  /** Whether a statement of the run (or {@link RouteHandle.lost}) found the connection gone. */
  readonly isLost: boolean;
  /** The run is over: later statements (work that outlived it) go to the pool again. */
  close(): void;
}

/** A route of `pool`'s statements onto `tx` (PgAgentLock: opened as its lock statement is sent). */
export function openRoute(pool: Sql, tx: postgres.TransactionSql): RouteHandle {
  const route: Route = { pool, tx: pool, open: true, lost: false };
  route.tx = guarded(tx, route);
  return {
    run: (fn) => current.run(route, () => Promise.resolve().then(fn)),
    lost: () => {
      route.lost = true;
      route.open = false;
    },
    close: () => {
      route.open = false;
    },
    get isLost() {
      return route.lost;
    },
  };
}

/**
 * The connection a statement of the store on `pool` goes to: the held lock's transaction when
 * called inside a PgAgentLock run on that pool, else the pool. Once the run's connection is lost,
 * a statement fails (STORE_FAILED) instead of being written: on a closed connection postgres.js
 * 3.4.9 would throw from a setImmediate and crash the process (pg-connect.ts transaction()), and
 * sending it to the pool instead would run it without the lock.
 */
export function via(pool: Sql): Sql {
  const r = current.getStore();
  if (r === undefined || r.pool !== pool) return pool;
  if (r.lost) return refusing(pool);
  return r.open ? r.tx : pool;
}

/**
 * `tx` whose statements, when one fails because the connection is gone, mark the route lost at
 * once: the handler is attached as the statement is made (postgres.js runs a query when a handler
 * is attached: these are all awaited at once anyway), before the caller's own, so the caller's
 * next statement is already refused. Without it, a run that catches the error and goes on would
 * write to the closed socket before begin() has rejected.
 */
function guarded(tx: postgres.TransactionSql, route: Route): Sql {
  const call = tx as unknown as (...a: unknown[]) => Promise<unknown>;
  const f = (first: unknown, ...rest: unknown[]) => {
    const q = call(first, ...rest);
    if (Array.isArray(first) && 'raw' in first)
      q.catch((err: unknown) => {
        if (!isConnectionLost(err)) return;
        route.lost = true;
        route.open = false;
      });
    return q;
  };
  return Object.assign(f, { array: tx.array, json: tx.json }) as unknown as Sql;
}

/** A stand-in for `pool` whose statements (tagged templates) reject; its helpers are the pool's. */
function refusing(pool: Sql): Sql {
  const f = (first: unknown, ...rest: unknown[]) =>
    Array.isArray(first) && 'raw' in first
      ? Promise.reject(
          new VerifierError('STORE_FAILED', 'the connection holding the agent lock to PostgreSQL was lost'),
        )
      : (pool as unknown as (...a: unknown[]) => unknown)(first, ...rest);
  return Object.assign(f, { array: pool.array, json: pool.json }) as unknown as Sql;
}
