import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';

const CLI = new URL('../src/main.ts', import.meta.url).pathname;

/** A `tmb` child process: what it printed so far, and a bounded wait for its exit. */
export interface Tmb {
  child: ChildProcessWithoutNullStreams;
  out: () => string;
  err: () => string;
  /** Resolves with the exit status (128 + signal number when killed), or rejects after `ms`. */
  exited: (ms: number) => Promise<number>;
  /** The first JSON line on stdout, parsed; rejects when the process exits first or after `ms`. */
  ready: <T>(ms: number) => Promise<T>;
  /** SIGTERM, then SIGKILL after 10 s; resolves when it has exited. */
  stop: () => Promise<void>;
}

/** Starts `tmb ...args` as the bin would (this Node, main.ts), with `env` added to this process's. */
export function tmb(args: string[], env: Record<string, string> = {}): Tmb {
  const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, ...env } });
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    out += d;
  });
  child.stderr.setEncoding('utf8').on('data', (d: string) => {
    err += d;
  });
  const exit = new Promise<number>((resolve) =>
    child.once('close', (code, signal) =>
      resolve(code ?? 128 + (signal === 'SIGKILL' ? 9 : signal === 'SIGTERM' ? 15 : 1)),
    ),
  );
  const bounded = <T>(p: Promise<T>, ms: number, what: string) =>
    Promise.race([
      p,
      new Promise<never>((_, reject) =>
        setTimeout(
          () => reject(new Error(`tmb ${args[0]}: no ${what} within ${ms} ms; stderr: ${err}`)),
          ms,
        ).unref(),
      ),
    ]);
  return {
    child,
    out: () => out,
    err: () => err,
    exited: (ms) => bounded(exit, ms, 'exit'),
    ready: <T>(ms: number) =>
      bounded(
        new Promise<T>((resolve, reject) => {
          const look = () => {
            const nl = out.indexOf('\n');
            if (nl < 0) return false;
            resolve(JSON.parse(out.slice(0, nl)) as T);
            return true;
          };
          if (look()) return;
          const on = () => {
            if (look()) child.stdout.off('data', on);
          };
          child.stdout.on('data', on);
          void exit.then((code) => reject(new Error(`tmb ${args[0]} exited ${code} first: ${err}`)));
        }),
        ms,
        'ready line',
      ),
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const kill = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exit;
      clearTimeout(kill);
    },
  };
}
