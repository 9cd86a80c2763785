/**
 * Child processes of the soak bench: started with Node 24 (this process's own executable), their
 * stderr appended to a log file, ready when they print their `{"listening": URL}` line, stopped by
 * PID (SIGTERM, then SIGKILL after a grace) or killed outright for a fault.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

/** The repository's `tmb` entry point. */
export const TMB_MAIN = join(import.meta.dirname, '..', '..', 'packages', 'cli', 'src', 'main.ts');

/** A started child process. */
export interface Child {
  pid: number;
  /** What it printed when ready (its `listening` URL and the rest of that line). */
  ready: Record<string, unknown> & { listening: string };
  /** Resolves with the exit code (or signal name) once it has exited. */
  exited: Promise<number | string>;
  /** Resident set size in KiB from /proc/PID/status, or null once it has exited. */
  rssKiB(): Promise<number | null>;
  /** SIGTERM, SIGKILL after `graceMs` (default 5,000), and waits for the exit. */
  stop(graceMs?: number): Promise<void>;
  /** SIGKILL now, and waits for the exit: a crash. */
  kill(): Promise<void>;
}

/**
 * Spawns `node <TMB_MAIN> ...args` and waits (at most `timeoutMs`, default 60 s) for its ready
 * line on stdout. Its stderr goes to `logPath` (appended). On failure it is killed and the error
 * names the last lines of its log.
 */
export async function spawnTmb(
  args: string[],
  opts: { logPath: string; env?: Record<string, string>; timeoutMs?: number },
): Promise<Child> {
  const log = createWriteStream(opts.logPath, { flags: 'a' });
  const child: ChildProcess = spawn(process.execPath, [TMB_MAIN, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...opts.env },
  });
  child.stderr!.pipe(log);
  let code: number | string | undefined;
  const exited = new Promise<number | string>((resolve) => {
    child.once('exit', (c, s) => {
      code = c ?? s ?? 'unknown';
      resolve(code);
    });
  });
  const lines = createInterface({ input: child.stdout! });
  const timeoutMs = opts.timeoutMs ?? 60_000;
  let timer: NodeJS.Timeout | undefined;
  try {
    const ready = await Promise.race([
      (async () => {
        for await (const line of lines) {
          const parsed = tryJson(line);
          if (parsed && typeof parsed.listening === 'string') return parsed as Child['ready'];
        }
        throw new Error('stdout closed before the ready line');
      })(),
      exited.then((c) => Promise.reject(new Error(`exited with ${c} before it was ready`))),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`not ready within ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
    child.stdout!.resume();
    return handle(child, ready, exited, () => code !== undefined);
  } catch (err) {
    if (code === undefined) child.kill('SIGKILL');
    await exited;
    const tail = (await readFile(opts.logPath, 'utf8').catch(() => '')).split('\n').slice(-8).join('\n');
    throw new Error(`tmb ${args[0]}: ${(err as Error).message}\n${tail}`);
  } finally {
    clearTimeout(timer);
  }
}

function handle(
  child: ChildProcess,
  ready: Child['ready'],
  exited: Promise<number | string>,
  gone: () => boolean,
): Child {
  const pid = child.pid!;
  return {
    pid,
    ready,
    exited,
    rssKiB: async () => {
      if (gone()) return null;
      const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
      const m = /^VmRSS:\s+(\d+) kB/m.exec(status);
      return m ? Number(m[1]) : null;
    },
    stop: async (graceMs = 5_000) => {
      if (gone()) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
    kill: async () => {
      if (gone()) return;
      child.kill('SIGKILL');
      await exited;
    },
  };
}

function tryJson(line: string): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(line);
    return v !== null && typeof v === 'object' ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** Counts the `event` names of the JSON lines in a log file (a component's stderr). */
export async function eventCounts(logPath: string, fromByte = 0): Promise<Record<string, number>> {
  const text = (await readFile(logPath).catch(() => Buffer.alloc(0))).subarray(fromByte).toString();
  const counts: Record<string, number> = {};
  for (const line of text.split('\n')) {
    const e = tryJson(line)?.event;
    if (typeof e === 'string') counts[e] = (counts[e] ?? 0) + 1;
  }
  return counts;
}

/** Waits for `ok()` to be true, polling every `everyMs`; false after `timeoutMs`. */
export async function until(ok: () => Promise<boolean> | boolean, timeoutMs: number, everyMs = 100) {
  const end = performance.now() + timeoutMs;
  for (;;) {
    if (await ok()) return true;
    if (performance.now() > end) return false;
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
