/**
 * One verifier process of the scale bench (a child of bench/scale.bench.ts, started with IPC):
 * reads its options from the JSON file named by its first argument (tokens are secrets: never in
 * argv), runs startVerifier on the shared database, and answers the parent's messages: `stats`
 * (RSS, heap, CPU time used) and `close` (closes and exits, so that a --cpu-prof profile is
 * written), `profile-start` and `profile-stop` (a CPU profile of the time between, written to
 * `dir` as a .cpuprofile: the measured phase only, without setup). Rate limiting is off: every simulated agent comes from 127.0.0.1, where 10,000 hosts
 * would have their own addresses.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { Session } from 'node:inspector/promises';
import { join } from 'node:path';
import { startVerifier } from '@tmb/verifier';

interface ChildConfig {
  dbPath: string;
  /** PostgreSQL URL (with its password: this file is mode 0600); absent: SQLite at dbPath. */
  databaseUrl?: string;
  tokens: { token: string; agent: string }[];
  tpmRoots: string[];
  /** The runtime and boot policies the simulated boot satisfies (kernel.ts); absent: none. */
  imaPolicy?: string;
  bootPolicy?: string;
}

const config = JSON.parse(await readFile(process.argv[2]!, 'utf8')) as ChildConfig;
const v = await startVerifier({
  dbPath: config.dbPath,
  ...(config.databaseUrl === undefined ? {} : { databaseUrl: config.databaseUrl }),
  tokens: config.tokens,
  tpmRoots: config.tpmRoots,
  ...(config.imaPolicy === undefined ? {} : { imaPolicy: config.imaPolicy }),
  ...(config.bootPolicy === undefined ? {} : { bootPolicy: config.bootPolicy }),
  rateLimit: false,
});
process.send!({ kind: 'url', url: v.url });
let session: Session | null = null;
process.on('message', async (m: { kind: string; dir?: string }) => {
  if (m.kind === 'profile-start') {
    session = new Session();
    session.connect();
    await session.post('Profiler.enable');
    await session.post('Profiler.start');
    process.send!({ kind: 'profile-start' });
  } else if (m.kind === 'profile-stop' && session !== null && m.dir !== undefined) {
    const { profile } = await session.post('Profiler.stop');
    await writeFile(join(m.dir, `verifier-${process.pid}.cpuprofile`), JSON.stringify(profile));
    session.disconnect();
    session = null;
    process.send!({ kind: 'profile-stop' });
  } else if (m.kind === 'stats') {
    globalThis.gc?.();
    const mem = process.memoryUsage();
    const cpu = process.cpuUsage();
    process.send!({ kind: 'stats', rss: mem.rss, heap: mem.heapUsed, cpuUs: cpu.user + cpu.system });
  } else if (m.kind === 'close') {
    await v.close();
    process.disconnect();
    process.exit(0);
  }
});
