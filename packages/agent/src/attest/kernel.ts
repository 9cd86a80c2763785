import { toBase64Url } from '@tmb/core';
import type { KernelLog } from '../measure/kernel/reader.ts';

/** The kernel's IMA PCR (sha256 bank); measured boot fills 0-9. */
export const KERNEL_PCR = 10;

/**
 * The sha256 PCRs every quote selects (docs/evidence.md): 0-9 (firmware and boot chain, for the
 * boot log and boot_aggregate), 10 (the kernel's IMA log) and the application PCR, ascending,
 * once each: one tpm2_quote.
 */
export function quotePcrs(appPcr: number): number[] {
  const all = new Set([...Array.from({ length: KERNEL_PCR + 1 }, (_, i) => i), appPcr]);
  return [...all].sort((a, b) => a - b);
}

/** Evidence v2's kernel members (docs/evidence.md, "Evidence body"). */
export interface KernelMembers {
  kernel: { from: number; entries: string } | null;
  boot: { log: string } | null;
  /**
   * Complete entries read (sent or held by the verifier): below the kernel's count while an
   * entry is half written. Null when the log stopped at a malformed entry.
   */
  read: number | null;
}

type Log = (event: string, detail: Record<string, unknown>) => void;

/**
 * Reads the kernel's log and the boot log for one piece of evidence, after its quote, and
 * reports what goes wrong once per distinct error (`kernel_log_failed`) rather than failing the
 * cycle: the evidence then carries what was read, and the verifier names the gap.
 */
export class KernelEvidence {
  readonly log: KernelLog;
  readonly #emit: Log;
  #lastError = '';

  constructor(log: KernelLog, emit: Log) {
    this.log = log;
    this.#emit = emit;
  }

  /** Reports an error of the kernel log once (until another one comes). */
  failed(err: unknown): void {
    const e = err as { code?: string; message?: string };
    const text = `${e.code ?? 'ERROR'} ${e.message ?? String(err)}`;
    if (text === this.#lastError) return;
    this.#lastError = text;
    this.#emit('kernel_log_failed', { code: e.code ?? null, error: e.message ?? String(err) });
  }

  /**
   * The kernel log's count of measurements now (for change polling), or null when it cannot be read.
   */
  async measured(): Promise<number | null> {
    try {
      return await this.log.measuredCount();
    } catch (err) {
      this.failed(err);
      return null;
    }
  }

  /**
   * The `kernel` and `boot` members. `asked`: the nonce answer's kernelFrom and bootLog;
   * `sameBoot`: the quote's resetCount is the one the verifier's state belongs to. The entries
   * go from `asked.kernelFrom` when the reader holds that many (else 0: a reboot, or a verifier
   * ahead of this log); entries below it are acknowledged (the verifier holds them) and dropped
   * from memory. The boot log goes when asked, and after a TPM reset.
   */
  async members(asked: { kernelFrom: number; bootLog: boolean }, sameBoot: boolean): Promise<KernelMembers> {
    const log = this.log;
    try {
      for (let r = await log.read(); r.more; r = await log.read());
    } catch (err) {
      this.failed(err);
    }
    if (log.error !== null) this.failed(log.error);
    const from = sameBoot && asked.kernelFrom <= log.count ? asked.kernelFrom : 0;
    if (from > 0) log.acknowledge(from);
    let kernel: KernelMembers['kernel'] = null;
    try {
      kernel = { from, entries: toBase64Url(await log.entriesFrom(from)) };
    } catch (err) {
      this.failed(err);
    }
    let boot: KernelMembers['boot'] = null;
    if (asked.bootLog || !sameBoot) {
      try {
        boot = { log: toBase64Url(await log.bootLog()) };
      } catch (err) {
        this.failed(err);
      }
    }
    // A log stopped at a malformed entry will not grow: no point in quoting again for it.
    return { kernel, boot, read: log.error === null ? log.count : null };
  }
}
