/**
 * The database the scale bench's verifier processes share: a private PostgreSQL cluster
 * (test/fixtures/pg.ts: initdb in a temp folder, its own port on 127.0.0.1, fsync off) when
 * PostgreSQL is installed (or TMB_TEST_PG_URL names a server), else one SQLite file in WAL mode.
 */
import { readFile, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import postgres from 'postgres';
import { type PgServer, pgSkip, socketUrl, startPg } from '../../test/fixtures/pg.ts';

/** The shared database: what each verifier is given, its size, and how to stop it. */
export interface BenchStore {
  kind: 'sqlite' | 'postgres';
  /** One line on what it is (the bench's `store` record). */
  label: string;
  /** The verifier options naming it (the URL holds a password: it goes only into a 0600 file). */
  options: { dbPath: string; databaseUrl?: string };
  /** Bytes the database takes now. */
  bytes(): Promise<number>;
  /**
   * CPU seconds used so far by the database server's backends serving this database (PostgreSQL:
   * pg_stat_activity's pids, read from /proc), or null (SQLite runs inside the verifiers).
   */
  cpuSeconds(): Promise<number | null>;
  /** Temporary folders it made outside the bench's own (a private cluster's), removed by close. */
  dirs: string[];
  close(): Promise<void>;
}

/** USER_HZ: Linux reports process times in 1/100 s. */
const CLOCK_TICKS = 100;

/** utime + stime of a process, in clock ticks (0 when it is gone). */
async function procTicks(pid: number): Promise<number> {
  const text = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11] ?? 0) + Number(fields[12] ?? 0);
}

/**
 * Opens the bench's database in `dir`: `want` 'auto' takes PostgreSQL when it can be had.
 * `log` says why not when it cannot. `transport`: how the verifiers reach PostgreSQL (its unix
 * socket when the server has one, else TCP; the label says which).
 */
export async function openBenchStore(
  dir: string,
  want: 'auto' | 'sqlite' | 'postgres',
  log: (line: string) => void,
  transport: 'unix' | 'tcp' = 'unix',
): Promise<BenchStore> {
  const dbPath = join(dir, 'verifier.db');
  const skip = pgSkip();
  if (want === 'postgres' && skip !== false) throw new Error(`--store postgres: ${skip}`);
  if (want === 'sqlite' || skip !== false) {
    if (skip !== false && want === 'auto') log(`PostgreSQL not available, measuring on SQLite: ${skip}`);
    return {
      kind: 'sqlite',
      label: `sqlite (WAL, one file shared by the processes)${skip !== false && want === 'auto' ? `: ${skip}` : ''}`,
      options: { dbPath },
      bytes: async () => {
        let n = 0;
        for (const f of [dbPath, `${dbPath}-wal`])
          n += await stat(f).then(
            (s) => s.size,
            () => 0,
          );
        return n;
      },
      cpuSeconds: async () => null,
      dirs: [],
      close: async () => {},
    };
  }
  const server: PgServer = await startPg();
  try {
    const url = await server.newDatabase();
    const data = process.env.TMB_TEST_PG_URL ? null : await dataDirectory(url);
    const socket = transport === 'unix' ? server.socketDir : undefined;
    if (transport === 'unix' && socket === undefined)
      log('PostgreSQL: no unix socket known (TMB_TEST_PG_DIR unset?), the verifiers connect over TCP');
    const over = socket === undefined ? 'TCP 127.0.0.1' : 'unix socket';
    return {
      kind: 'postgres',
      label: process.env.TMB_TEST_PG_URL
        ? `postgres (server of TMB_TEST_PG_URL) over ${over}`
        : `postgres (private cluster of test/fixtures/pg.ts: fsync, synchronous_commit, full_page_writes off) over ${over}`,
      options: { dbPath, databaseUrl: socket === undefined ? url : socketUrl(url, socket) },
      bytes: async () => {
        const sql = postgres(url, { max: 1, connect_timeout: 10, onnotice: () => {} });
        try {
          const [row] = await sql<{ n: string }[]>`select pg_database_size(current_database())::text as n`;
          return Number(row?.n ?? 0);
        } finally {
          await sql.end({ timeout: 5 });
        }
      },
      cpuSeconds: async () => {
        const sql = postgres(url, { max: 1, connect_timeout: 10, onnotice: () => {} });
        try {
          const rows = await sql<
            { pid: number }[]
          >`select pid from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid()`;
          let ticks = 0;
          for (const { pid } of rows) ticks += await procTicks(pid);
          return ticks / CLOCK_TICKS;
        } finally {
          await sql.end({ timeout: 5 });
        }
      },
      dirs: data === null ? [] : [dirname(data)],
      close: async () => {
        try {
          await server.close();
        } catch (err) {
          // Stopped under us (Ctrl-C reaches the whole process group): the fixture's close fails
          // at its DROP DATABASE before it stops the cluster and removes its folder.
          if (data === null) throw err;
          await stopCluster(data);
        }
      },
    };
  } catch (err) {
    await server.close();
    throw err;
  }
}

/** The private cluster's data folder (inside the fixture's temporary folder). */
async function dataDirectory(url: string): Promise<string> {
  const sql = postgres(url, { max: 1, connect_timeout: 10, onnotice: () => {} });
  try {
    const [row] = await sql<{ data_directory: string }[]>`show data_directory`;
    return row!.data_directory;
  } finally {
    await sql.end({ timeout: 5 });
  }
}

/** Stops the postmaster of `data` (its postmaster.pid, SIGTERM then SIGKILL) and removes the folder. */
async function stopCluster(data: string): Promise<void> {
  const pid = Number((await readFile(join(data, 'postmaster.pid'), 'utf8').catch(() => '')).split('\n')[0]);
  if (Number.isInteger(pid) && pid > 0) {
    const kill = (s: NodeJS.Signals | 0) => {
      try {
        process.kill(pid, s);
        return true;
      } catch {
        return false;
      }
    };
    kill('SIGTERM');
    const until = Date.now() + 10_000;
    while (kill(0) && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
    kill('SIGKILL');
  }
  await rm(dirname(data), { recursive: true, force: true });
}
