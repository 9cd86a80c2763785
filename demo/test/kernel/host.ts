// Shared set-up of the simulated-kernel tests: a fresh swtpm and kernel per test, own temp dir.
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { promisify } from 'node:util';
import { provisionSwtpm, type Swtpm, startSwtpm, tctiString } from '@tmb/agent/tpm';
import { parseBinaryLog } from '@tmb/core/ima';
import {
  KernelSimError,
  type SimulatedKernel,
  type SimulatedKernelOptions,
  startSimulatedKernel,
} from '@tmb/demo';

export interface TestHost {
  dir: string;
  k: SimulatedKernel;
  tpm: Swtpm;
  /** Runs a command inside the simulated host and waits for it (bounded). */
  run(cmd: string, args: string[], timeoutMs?: number): Promise<{ code: number | null; out: string }>;
  /** Paths in the log, in order. */
  paths(): Promise<string[]>;
  /** sha256 PCR 10 read with real tpm2_pcrread through the kernel's proxy. */
  pcr10(): Promise<string>;
}

/** Skips the test unless root with fanotify; otherwise starts a host, stopped when the test ends. */
export async function startHost(
  t: TestContext,
  firmware?: SimulatedKernelOptions['firmware'],
): Promise<TestHost | null> {
  if (process.getuid?.() !== 0) {
    t.skip('the simulated kernel needs root (fanotify permission events)');
    return null;
  }
  const dir = await mkdtemp(join(tmpdir(), 'tmb-kernel-'));
  const tpm = await startSwtpm(await provisionSwtpm(join(dir, 'swtpm')));
  let k: SimulatedKernel;
  try {
    k = await startSimulatedKernel({ stateDir: dir, tpm: tpm.tcti, ...(firmware ? { firmware } : {}) });
  } catch (e) {
    await tpm.stop();
    await rm(dir, { recursive: true, force: true });
    if (e instanceof KernelSimError && e.missing === 'fanotify') {
      t.skip(`fanotify is unavailable here: ${e.message}`);
      return null;
    }
    throw e;
  }
  t.after(async () => {
    await k.close();
    await tpm.stop();
    await rm(dir, { recursive: true, force: true });
  });
  const run = (cmd: string, args: string[], timeoutMs = 20_000) =>
    new Promise<{ code: number | null; out: string }>((resolve) => {
      const c = k.spawn(cmd, args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      c.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
      });
      c.stderr!.on('data', (d: Buffer) => {
        out += d.toString();
      });
      const timer = setTimeout(() => c.kill('SIGKILL'), timeoutMs);
      c.once('close', (code) => {
        clearTimeout(timer);
        resolve({ code, out });
      });
    });
  const paths = async () =>
    parseBinaryLog(
      new Uint8Array(await readFile(join(k.securityfs, 'ima', 'binary_runtime_measurements'))),
    ).map((e) => e.path);
  const pcr10 = async () => {
    const { stdout } = await promisify(execFile)('tpm2_pcrread', ['sha256:10'], {
      env: { ...process.env, TPM2TOOLS_TCTI: tctiString(k.tcti) },
      timeout: 20_000,
    });
    const m = /10\s*:\s*0x([0-9A-Fa-f]{64})/.exec(stdout);
    if (m === null) throw new Error(`tpm2_pcrread said: ${stdout}`);
    return m[1]!.toLowerCase();
  };
  return { dir, k, tpm, run, paths, pcr10 };
}
