/**
 * The scale bench's teardown: what it started (load threads, verifier processes, the database,
 * swtpm instances, its temporary folder), stopped once, newest first, at the end of a run or on
 * SIGINT/SIGTERM (Ctrl-C during setup or the measured phase), then a sweep of any process still
 * descending from this one (one caught half-started by the signal).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';

/** The process ids whose parent chain leads to `root` (from /proc; empty where /proc is absent). */
export function descendants(root: number): number[] {
  const parent = new Map<number, number>();
  let names: string[] = [];
  try {
    names = readdirSync('/proc').filter((n) => /^\d+$/.test(n));
  } catch {
    return [];
  }
  for (const n of names) {
    try {
      const stat = readFileSync(`/proc/${n}/stat`, 'utf8');
      // pid (comm) state ppid ...: comm may hold spaces and parentheses, so split after the last ')'.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      parent.set(Number(n), ppid);
    } catch {
      // gone meanwhile
    }
  }
  const out: number[] = [];
  const seen = new Set([root]);
  for (let grew = true; grew; ) {
    grew = false;
    for (const [pid, ppid] of parent)
      if (!seen.has(pid) && seen.has(ppid)) {
        seen.add(pid);
        out.push(pid);
        grew = true;
      }
  }
  return out;
}

/** Whether process `pid` runs (exists and is not a zombie waiting for a parent to reap it). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return !existsSync('/proc/self'); // gone meanwhile; without /proc, signal 0 is all we know
  }
}

/** Closers run once, newest first; a failing closer is logged and the rest still run. */
export class Teardown {
  readonly #closers: { what: string; fn: () => Promise<void> }[] = [];
  #run: Promise<void> | null = null;
  readonly #log: (line: string) => void;

  constructor(log: (line: string) => void) {
    this.#log = log;
  }

  /** Adds `fn` (named `what` in a failure line) to run at teardown. */
  add(what: string, fn: () => Promise<void>): void {
    this.#closers.push({ what, fn });
  }

  /** Runs every closer (once; later calls wait for the first). */
  run(): Promise<void> {
    this.#run ??= (async () => {
      for (const { what, fn } of this.#closers.reverse()) {
        const t0 = performance.now();
        try {
          await fn();
          const ms = performance.now() - t0;
          if (ms > 1_000) this.#log(`stopping ${what} took ${(ms / 1000).toFixed(1)} s`);
        } catch (err) {
          this.#log(`stopping ${what}: ${String(err).slice(0, 300)}`);
        }
      }
    })();
    return this.#run;
  }

  /**
   * Until the returned function is called, SIGINT or SIGTERM runs the teardown, then stops any
   * process still descending from this one (SIGTERM, then SIGKILL after 5 s) and exits 130 or 143.
   */
  onSignals(): () => void {
    const handler = (signal: NodeJS.Signals) => {
      this.#log(`${signal}: stopping everything started`);
      void this.run()
        .then(() => sweep())
        .finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
    };
    process.on('SIGINT', handler);
    process.on('SIGTERM', handler);
    return () => {
      process.off('SIGINT', handler);
      process.off('SIGTERM', handler);
    };
  }
}

/** SIGTERM to every descendant process, SIGKILL to those left after 5 s. */
async function sweep(): Promise<void> {
  const left = descendants(process.pid);
  for (const pid of left) signal(pid, 'SIGTERM');
  const until = Date.now() + 5_000;
  while (left.some(alive) && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
  for (const pid of left.filter(alive)) signal(pid, 'SIGKILL');
}

function signal(pid: number, s: NodeJS.Signals): void {
  try {
    process.kill(pid, s);
  } catch {
    // already gone
  }
}
