import { type ChildProcess, type SpawnOptions, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { realpath, writeFile } from 'node:fs/promises';
import { delimiter, join, resolve } from 'node:path';
import type { TctiConfig } from '@tmb/agent/tpm';
import { concat } from '@tmb/core';
import { KernelSimError } from './errors.ts';
import { type FanotifyHelper, type HeldOpen, startHelper } from './helper.ts';
import { TpmLink } from './link.ts';
import { hashHeldFile, limit, loggedName } from './measure.ts';
import { startTpmProxy, type TpmProxy } from './proxy.ts';
import { SecurityFs, SIMULATED_KERNEL_BUFFER, SIMULATED_KERNEL_EVENT } from './securityfs.ts';
import { checkResponse, decodePcrRead, encodePcrExtend, encodePcrRead } from './tpm.ts';

/** Options of startSimulatedKernel. */
export interface SimulatedKernelOptions {
  /** Folder of this simulated host; its securityfs is `<stateDir>/securityfs` (emptied at start: a boot). */
  stateDir: string;
  /** An already started swtpm over TCP (startSwtpm), with PCR 10 at its reset value. The kernel owns it from now on. */
  tpm: TctiConfig;
  /**
   * Simulated UEFI firmware, run first: it extends PCRs 0-9 through `extend` and returns its TCG2
   * event log, written to `<securityfs>/tpm0/binary_bios_measurements`. Left out: no boot log
   * file, and boot_aggregate is over PCRs 0-9 as the TPM has them (all zero on a fresh swtpm).
   */
  firmware?: (extend: (pcr: number, sha256: Uint8Array) => Promise<void>) => Promise<Uint8Array>;
  /** Diagnostics (helper messages, TPM failures). Default: dropped. */
  log?: (line: string) => void;
}

/** A running simulated kernel (DEVELOPMENT ONLY: docs/kernel.md). */
export interface SimulatedKernel {
  /** The folder playing /sys/kernel/security. */
  securityfs: string;
  /** Where host processes reach the TPM: the kernel's resource-manager proxy. */
  tcti: TctiConfig;
  /** The pid holding the simulated host's mount namespace (`/proc/<nsPid>/ns/mnt`). */
  nsPid: number;
  /** Runs a command inside the simulated host (`nsenter --mount`), so it and its children are measured. */
  spawn(cmd: string, args: readonly string[], opts?: SpawnOptions): ChildProcess;
  /** Entries in the measurement log. */
  count(): number;
  /** Stops the helper (held opens are allowed), the proxy, the commands it spawned, and closes the log. */
  close(): Promise<void>;
}

function onPath(name: string): boolean {
  return (process.env.PATH ?? '/usr/bin:/bin')
    .split(delimiter)
    .some((d) => d !== '' && existsSync(join(d, name)));
}

async function readPcrs(link: TpmLink, pcrs: readonly number[]): Promise<Map<number, Uint8Array>> {
  const out = new Map<number, Uint8Array>();
  for (let left = [...pcrs]; left.length > 0; left = left.filter((p) => !out.has(p))) {
    const got = decodePcrRead(await link.send(encodePcrRead(left)));
    if (got.size === 0) throw new KernelSimError('SIMKERNEL_TPM_FAILED', 'TPM2_PCR_Read returned no PCR');
    for (const [p, v] of got) out.set(p, v);
  }
  return out;
}

/**
 * Starts a simulated kernel: a simulated host (mount namespace) whose every regular-file open and
 * exec is measured before it proceeds, into an IMA log in the kernel's format and sha256 PCR 10
 * of `tpm`, with entry 0 `boot_aggregate` and entry 1 `tmb.simulated-kernel`.
 * @throws KernelSimError SIMKERNEL_UNAVAILABLE (not root, no fanotify, gcc or nsenter),
 *   SIMKERNEL_TPM_NOT_FRESH, SIMKERNEL_TPM_FAILED, SIMKERNEL_HELPER_FAILED
 */
export async function startSimulatedKernel(o: SimulatedKernelOptions): Promise<SimulatedKernel> {
  const log = o.log ?? (() => undefined);
  if (process.getuid?.() !== 0)
    throw new KernelSimError(
      'SIMKERNEL_UNAVAILABLE',
      'the simulated kernel needs root (fanotify permission events)',
      {
        missing: 'root',
      },
    );
  if (!onPath('nsenter'))
    throw new KernelSimError('SIMKERNEL_UNAVAILABLE', 'nsenter (util-linux) is not on PATH', {
      missing: 'nsenter',
    });
  if (o.tpm.kind !== 'swtpm') throw new TypeError('the simulated kernel drives an swtpm over TCP');
  const link = new TpmLink(o.tpm.host ?? '127.0.0.1', o.tpm.port);
  const extend = async (pcr: number, d: Uint8Array) =>
    checkResponse(await link.send(encodePcrExtend(pcr, d)), 'TPM2_PCR_Extend');
  const undo: (() => Promise<void> | void)[] = [() => link.close()];
  let cleaned: Promise<void> | null = null;
  const cleanup = () => {
    cleaned ??= (async () => {
      for (const u of undo.reverse()) await u();
    })();
    return cleaned;
  };
  try {
    const pcr10 = (await readPcrs(link, [10])).get(10)!;
    if (pcr10.some((b) => b !== 0))
      throw new KernelSimError(
        'SIMKERNEL_TPM_NOT_FRESH',
        'PCR 10 is not at its reset value: start a fresh swtpm (a reboot)',
      );
    const dir = resolve(o.stateDir, 'securityfs');
    const sfs = await SecurityFs.create(dir, (d) => extend(10, d));
    undo.push(() => sfs.close());
    if (o.firmware !== undefined)
      await writeFile(join(dir, 'tpm0', 'binary_bios_measurements'), await o.firmware(extend));
    const pcrs = await readPcrs(link, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    const aggregate = createHash('sha256')
      .update(concat(...[0, 1, 2, 3, 4, 5, 6, 7, 8, 9].map((i) => pcrs.get(i)!)))
      .digest();
    await sfs.append({ digest: new Uint8Array(aggregate), path: 'boot_aggregate' });
    await sfs.append({
      template: 'ima-buf',
      digest: new Uint8Array(createHash('sha256').update(SIMULATED_KERNEL_BUFFER).digest()),
      path: SIMULATED_KERNEL_EVENT,
      extra: SIMULATED_KERNEL_BUFFER,
    });

    const proxy: TpmProxy = await startTpmProxy(link, log);
    undo.push(() => proxy.close());
    let helper: FanotifyHelper | null = null;
    const measure = limit(16, async (h: HeldOpen) => {
      let digest: Uint8Array;
      let violation = false;
      try {
        digest = await hashHeldFile(helper!.pid, h.fd);
      } catch (e) {
        log(`simulated kernel: cannot read ${h.path}: ${(e as Error).message}; logged as a violation`);
        digest = new Uint8Array(32);
        violation = true;
      }
      try {
        await sfs.append({ digest, path: loggedName(h.path), violation });
      } catch (e) {
        log(`simulated kernel: ${h.path}: ${(e as Error).message}`);
      }
      helper!.allow(h.seq);
    });
    const started = await startHelper(await realpath(dir), (h) => void measure(h), log);
    helper = started;
    const stopHelper = () => started.stop();
    undo.push(stopHelper);
    let closing = false;
    void started.exited.then(() => {
      if (!closing)
        log(
          'simulated kernel: the fanotify helper exited: opens in the simulated host are no longer measured',
        );
    });

    const children = new Set<ChildProcess>();
    undo.push(() => {
      for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    });
    const nsPid = started.nsPid;
    return {
      securityfs: dir,
      tcti: { kind: 'swtpm', host: '127.0.0.1', port: proxy.port },
      nsPid,
      spawn: (cmd, args, opts = {}) => {
        // nsenter resets the working directory to the namespace's root; `env --chdir` sets it
        // again from inside, so relative paths resolve on the namespace's (marked) mounts.
        const cwd = resolve(opts.cwd?.toString() ?? process.cwd());
        const c = spawn(
          'nsenter',
          [`--mount=/proc/${nsPid}/ns/mnt`, '--', 'env', `--chdir=${cwd}`, '--', cmd, ...args],
          {
            ...opts,
            cwd,
          },
        );
        children.add(c);
        c.once('exit', () => children.delete(c));
        return c;
      },
      count: () => sfs.count,
      close: async () => {
        closing = true;
        await cleanup();
      },
    };
  } catch (e) {
    await cleanup();
    throw e;
  }
}
