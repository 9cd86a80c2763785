import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { helperBinary } from './build.ts';
import { KernelSimError } from './errors.ts';

/** One open the helper holds until it is answered (docs/kernel.md, "Helper protocol"). */
export interface HeldOpen {
  seq: number;
  /** The event's fd number in the helper: read the file at /proc/<helper pid>/fd/<fd>. */
  fd: number;
  /** The process that opened it. */
  pid: number;
  exec: boolean;
  /** The path as readlink(/proc/self/fd/N) gave it in the helper, decoded from hex as UTF-8. */
  path: string;
}

/** The running helper: its pid, the namespace holder's pid, and the answer channel. */
export interface FanotifyHelper {
  pid: number;
  nsPid: number;
  /** Lets the open with this sequence number proceed and remembers the file as measured. */
  allow(seq: number): void;
  /** Resolves when the helper has exited. */
  exited: Promise<void>;
  /** Ends the helper (stdin EOF, then SIGKILL after 2 s); every held open is allowed. */
  stop(): Promise<void>;
}

const LINE = /^M (\d+) (\d+) (\d+) ([xo]) ([0-9a-f]+|-)$/;

/**
 * Starts the fanotify helper (compiling it when needed) with `skipDir` (a canonical path) left
 * unmeasured, and resolves once it has marked the simulated host's mounts.
 * @throws KernelSimError SIMKERNEL_UNAVAILABLE (missing fanotify or gcc), SIMKERNEL_HELPER_FAILED
 */
export async function startHelper(
  skipDir: string,
  onOpen: (open: HeldOpen) => void,
  log: (line: string) => void,
  timeoutMs = 10_000,
): Promise<FanotifyHelper> {
  const bin = await helperBinary();
  const child: ChildProcess = spawn(bin, [skipDir], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4096);
    for (const l of d.toString().split('\n')) if (l !== '') log(l);
  });
  child.stdin!.on('error', () => undefined); // the helper died: its exit is reported below
  const exited = new Promise<void>((r) => child.once('close', () => r()));
  const exitCode = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));

  const lines = createInterface({ input: child.stdout! });
  const ready = new Promise<number>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new KernelSimError('SIMKERNEL_HELPER_FAILED', 'no READY in time')),
      timeoutMs,
    );
    void exitCode.then((code) => {
      clearTimeout(timer);
      const why = stderr.trim() || `exit ${code}`;
      reject(
        code === 2
          ? new KernelSimError('SIMKERNEL_UNAVAILABLE', `fanotify is not available: ${why}`, {
              missing: 'fanotify',
            })
          : new KernelSimError('SIMKERNEL_HELPER_FAILED', `the fanotify helper failed: ${why}`),
      );
    });
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(new KernelSimError('SIMKERNEL_HELPER_FAILED', `cannot run ${bin}: ${e.message}`, { cause: e }));
    });
    lines.on('line', (line) => {
      const r = /^READY (\d+)$/.exec(line);
      if (r !== null) {
        clearTimeout(timer);
        return resolve(Number(r[1]));
      }
      const m = LINE.exec(line);
      if (m === null) return log(`fanotify helper: unexpected line ${JSON.stringify(line.slice(0, 200))}`);
      const path = m[5] === '-' ? '(unknown)' : Buffer.from(m[5]!, 'hex').toString('utf8');
      onOpen({ seq: Number(m[1]), fd: Number(m[2]), pid: Number(m[3]), exec: m[4] === 'x', path });
    });
  });
  let nsPid: number;
  try {
    nsPid = await ready;
  } catch (e) {
    child.kill('SIGKILL');
    throw e;
  }
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.stdin!.end();
    const timer = setTimeout(() => child.kill('SIGKILL'), 2_000);
    await exited;
    clearTimeout(timer);
  };
  return {
    pid: child.pid!,
    nsPid,
    allow: (seq) => {
      if (child.stdin!.writable) child.stdin!.write(`${seq}\n`);
    },
    exited,
    stop,
  };
}
