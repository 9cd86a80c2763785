/**
 * The scale bench's processes and threads: verifier child processes (verifier.child.ts) on one
 * database, and load threads (load.worker.ts), each started, asked and stopped by message.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
import type { LoadJob, PushPlan, RunPlan } from './load.worker.ts';
import type { LoadResult } from './result.ts';

/** A verifier process's memory and CPU time used so far. */
export interface ProcStats {
  rss: number;
  heap: number;
  cpuUs: number;
}

/** A verifier process: its URL, a stats probe and close. */
export interface VerifierProc {
  url: string;
  pid: number;
  stats(): Promise<ProcStats>;
  /** Starts a CPU profile (node:inspector in the process). */
  profileStart(): Promise<void>;
  /** Stops it and writes it into `dir` as verifier-<pid>.cpuprofile. */
  profileStop(dir: string): Promise<void>;
  close(): Promise<void>;
}

function reply<T>(child: ChildProcess, kind: string, ms: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`verifier ${child.pid} sent no ${kind} in ${ms} ms`));
    }, ms);
    const onMessage = (m: { kind: string }) => {
      if (m.kind !== kind) return;
      cleanup();
      resolve(m as T);
    };
    const onExit = (code: number | null) => {
      cleanup();
      reject(new Error(`verifier ${child.pid} exited (${code}) before ${kind}`));
    };
    const cleanup = () => {
      clearTimeout(timer);
      child.off('message', onMessage);
      child.off('exit', onExit);
    };
    child.on('message', onMessage);
    child.on('exit', onExit);
  });
}

/**
 * Starts one verifier process on the options file `configPath` (mode 0600, holds the tokens).
 */
export async function startVerifierProc(configPath: string): Promise<VerifierProc> {
  const execArgv = ['--expose-gc'];
  const child = fork(new URL('./verifier.child.ts', import.meta.url), [configPath], {
    execArgv,
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  const exited = once(child, 'exit');
  let started: { url: string };
  try {
    started = await reply<{ url: string }>(child, 'url', 60_000);
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  }
  return {
    url: started.url,
    pid: child.pid!,
    stats: async () => {
      const p = reply<ProcStats>(child, 'stats', 30_000);
      child.send({ kind: 'stats' });
      return p;
    },
    profileStart: async () => {
      const p = reply(child, 'profile-start', 30_000);
      child.send({ kind: 'profile-start' });
      await p;
    },
    profileStop: async (dir) => {
      const p = reply(child, 'profile-stop', 60_000);
      child.send({ kind: 'profile-stop', dir });
      await p;
    },
    close: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      child.send({ kind: 'close' });
      await exited;
      clearTimeout(timer);
    },
  };
}

/** A load thread: enrol its agents, run a plan, close. */
export interface LoadThread {
  enrol(): Promise<void>;
  run(plan: RunPlan): Promise<LoadResult>;
  /** The receipts capacity phase. */
  push(plan: PushPlan): Promise<LoadResult>;
  close(): Promise<void>;
}

function ask<T>(w: Worker, kind: string, send: unknown, ms: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`load thread sent no ${kind} in ${ms} ms`));
    }, ms);
    const onMessage = (m: { kind: string; error?: string }) => {
      if (m.kind !== kind && m.kind !== 'error') return;
      cleanup();
      if (m.kind === 'error') reject(new Error(`load thread: ${m.error}`));
      else resolve(m as T);
    };
    const onError = (e: Error) => {
      cleanup();
      reject(e);
    };
    const cleanup = () => {
      clearTimeout(timer);
      w.off('message', onMessage);
      w.off('error', onError);
    };
    w.on('message', onMessage);
    w.on('error', onError);
    if (send !== undefined) w.postMessage(send);
  });
}

/** Starts a load thread for `job`; resolves once it holds its TPM connection. */
export async function startLoadThread(job: LoadJob, enrolMs: number): Promise<LoadThread> {
  const w = new Worker(new URL('./load.worker.ts', import.meta.url), { workerData: job });
  await ask(w, 'ready', undefined, 60_000);
  let closed: Promise<void> | undefined;
  return {
    enrol: () => ask<unknown>(w, 'enrol', { kind: 'enrol' }, enrolMs).then(() => undefined),
    run: async (plan) =>
      (
        await ask<{ result: LoadResult }>(
          w,
          'run',
          { kind: 'run', plan },
          plan.once ? enrolMs : plan.seconds * 1000 + 120_000,
        )
      ).result,
    push: async (plan) =>
      (await ask<{ result: LoadResult }>(w, 'push', { kind: 'push', plan }, plan.seconds * 1000 + 120_000))
        .result,
    close: () => {
      // Once: the bench closes its threads before the floor, and its teardown again.
      closed ??= ask(w, 'close', { kind: 'close' }, 10_000)
        .catch(() => undefined)
        .then(() => w.terminate())
        .then(() => undefined);
      return closed;
    },
  };
}
