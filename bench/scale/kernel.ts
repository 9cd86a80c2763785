/**
 * The scale bench's simulated measured boot, one per swtpm (`--kernel sim`, the default): the
 * simulated UEFI firmware of the demo (demo/src/firmware: PCRs 0-7 and 8-9 extended, its TCG2
 * event log kept) and a simulated kernel's binary IMA log (ima-ng, PCR 10 extended per entry):
 * `boot_aggregate` over PCRs 0-9, the `tmb.simulated-kernel` event, then BOOT_FILES files of a
 * fixed pool. While the load runs, each host's kernel measures `--kernel-rate` more files a second
 * (from the same pool, as a host reopening its libraries does), extended on that host's swtpm, so
 * every evidence carries the kernel entries since its last quote and the verifier replays them.
 * The verifier is given the runtime policy allowing the pool (benchImaPolicy) and the demo's boot
 * policy (simulatedBootPolicy), so receipts reach L1. Every extend is a TPM2_PCR_Extend on the
 * swtpm: the quoted PCRs are the TPM's, never computed for it.
 */
import { concat, sha256, utf8 } from '@tmb/core';
import {
  buildEntry,
  createPolicy,
  entryToBinary,
  extendDigest,
  extendPcr,
  type ImaEntry,
  type RuntimePolicy,
  SIMULATED_KERNEL_EVENT,
} from '@tmb/core/ima';
import { parsePcrsFile } from '@tmb/core/tpm';
import { simulateFirmware } from '@tmb/demo';
import type { TpmSocket } from './tpm.ts';

/** Files the simulated kernel measures during boot (after boot_aggregate and its own event). */
export const BOOT_FILES = 512;
/** Distinct files (path, digest) a simulated host ever measures: the runtime policy allows each. */
const POOL = 1024;
/** The IMA PCR (TPM 2.0 PC Client: PCR 10) and its index in QUOTE_PCRS (0-9, 10, 15). */
const IMA_PCR = 10;

/** File `i` of the pool (cycling): its path and SHA-256 (stand-in bytes, not a real file). */
function poolFile(i: number): { digest: Uint8Array; path: string } {
  const k = i % POOL;
  return { digest: sha256(utf8(`tmb simulated file ${k}`)), path: `/usr/lib/tmb-sim/lib${k}.so` };
}

/** The runtime policy (Keylime v1) allowing every file a simulated host measures. */
export function benchImaPolicy(): RuntimePolicy {
  const pool: ImaEntry[] = Array.from({ length: POOL }, (_, i) => buildEntry(poolFile(i), i + 2));
  return createPolicy(pool);
}

/** The kernel IMA log of one simulated host, and PCR 10 as its entries extended it. */
export class SimKernel {
  readonly #bin: Uint8Array[];
  #pcr10: Uint8Array;

  constructor(entries: readonly Uint8Array[], pcr10: Uint8Array) {
    this.#bin = [...entries];
    this.#pcr10 = pcr10;
  }

  /** Entries logged (and their extends sent to the TPM). */
  get count(): number {
    return this.#bin.length;
  }

  /** PCR 10 once every extend sent so far is done. */
  get pcr10(): Uint8Array {
    return this.#pcr10;
  }

  /** Each entry's binary form, in log order. */
  entries(): Uint8Array[] {
    return [...this.#bin];
  }

  /** The binary entries `from`..end (little-endian ima-ng, as securityfs gives them). */
  chunk(from: number): Uint8Array {
    return concat(...this.#bin.slice(from));
  }

  /**
   * Logs `fields` as the next entry and extends PCR 10 on `tpm`. The socket sends commands in
   * call order, so a quote asked for after this call covers the entry.
   */
  measure(tpm: TpmSocket, fields: Parameters<typeof buildEntry>[0]): Promise<void> {
    const e = buildEntry(fields, this.#bin.length);
    const d = extendDigest(e, 'sha256');
    this.#bin.push(entryToBinary(e));
    this.#pcr10 = extendPcr('sha256', this.#pcr10, d);
    return tpm.extend(IMA_PCR, d);
  }

  /** Measures the next file of the pool (a host's kernel logging one more file). */
  grow(tpm: TpmSocket): Promise<void> {
    return this.measure(tpm, poolFile(this.#bin.length));
  }
}

/** What startTpm keeps of a simulated boot: the boot event log and the kernel log so far. */
export interface SimBoot {
  bootLog: Uint8Array;
  entries: Uint8Array[];
  pcr10: Uint8Array;
}

/**
 * Boots one swtpm (fresh: PCRs 0-10 all zero): the simulated firmware's events into PCRs 0-9,
 * then the kernel's boot entries into PCR 10, all through `tpm`.
 */
export async function simulateBoot(tpm: TpmSocket): Promise<SimBoot> {
  const pcrs: Uint8Array[] = Array.from({ length: IMA_PCR }, () => new Uint8Array(32));
  const bootLog = await simulateFirmware(async (pcr, digest) => {
    pcrs[pcr] = extendPcr('sha256', pcrs[pcr]!, digest);
    await tpm.extend(pcr, digest);
  });
  const kernel = new SimKernel([], new Uint8Array(32));
  const done: Promise<void>[] = [
    kernel.measure(tpm, { digest: sha256(concat(...pcrs)), path: 'boot_aggregate' }),
  ];
  const buf = utf8('{"simulated":true,"version":1,"by":"bench/scale"}');
  done.push(
    kernel.measure(tpm, {
      template: 'ima-buf',
      digest: sha256(buf),
      path: SIMULATED_KERNEL_EVENT,
      extra: buf,
    }),
  );
  for (let i = 0; i < BOOT_FILES; i++) done.push(kernel.grow(tpm));
  await Promise.all(done);
  return { bootLog, entries: kernel.entries(), pcr10: kernel.pcr10 };
}

/** Where PCR 10's digest lies in a QUOTE_PCRS values file (core/tpm/pcrfile.ts: 132-byte selection, u32 list count, lists of u32 count and 8 x (u16 size, 64 bytes); PCR 10 is list 1's third). */
const PCR10_AT = 132 + 4 + 532 + 4 + 2 * 66 + 2;

/**
 * `pcrsFile` (tpm2_quote -o, selection QUOTE_PCRS) with PCR 10 set to `pcr10`: the values file of a
 * quote made after more kernel extends. `check`: parse it first and require PCR 10 to be `pcr10`
 * already (setup: the TPM's value equals the replay) and at its place.
 * @throws Error when checked and it is not
 */
export function withPcr10(pcrsFile: Uint8Array, pcr10: Uint8Array, check = false): Uint8Array {
  if (check) {
    const found = parsePcrsFile(pcrsFile).digests[IMA_PCR];
    const at = pcrsFile.subarray(PCR10_AT, PCR10_AT + 32);
    if (found === undefined || Buffer.compare(found, pcr10) !== 0 || Buffer.compare(at, pcr10) !== 0)
      throw new Error('the swtpm PCR 10 is not the replay of the simulated kernel log');
  }
  const out = new Uint8Array(pcrsFile);
  out.set(pcr10, PCR10_AT);
  return out;
}
