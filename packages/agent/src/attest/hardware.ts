import { accessSync, constants, existsSync } from 'node:fs';
import { join } from 'node:path';
import type { AgentLog } from '../agent.ts';
import { AgentError } from '../errors.ts';
import { KernelLog } from '../measure/kernel/reader.ts';
import { DEFAULT_SECURITYFS, type ResolvedAgentOptions } from '../options.ts';
import { TpmDriverError } from '../tpm/errors.ts';
import type { TctiConfig } from '../tpm/tcti.ts';
import { KERNEL_PCR } from './kernel.ts';

// What the agent attests with, chosen at start from its options: the TPM and the kernel's IMA log.

/**
 * The TPM to use, or undefined to run without one (L0 only), said plainly in the log.
 * @throws TpmDriverError TPM_UNAVAILABLE for `auto` with no /dev/tpmrm0 unless allowNoTpm
 */
export function chooseTpm(opts: ResolvedAgentOptions, log: AgentLog): TctiConfig | undefined {
  if (opts.tpm === 'none') {
    log('tpm_none', { message: 'running without a TPM: receipts reach L0 only, never L1' });
    return undefined;
  }
  if (opts.tpm !== 'auto') return opts.tpm;
  if (existsSync(opts.tpmDevice)) return { kind: 'device', path: opts.tpmDevice };
  if (opts.allowNoTpm) {
    log('tpm_absent', {
      message: `no TPM at ${opts.tpmDevice} and none configured: serving at L0 only (allowNoTpm)`,
    });
    return undefined;
  }
  throw new TpmDriverError(
    'TPM_UNAVAILABLE',
    `no TPM: ${opts.tpmDevice} does not exist and no --tpm was given; give --tpm swtpm:host=H,port=P, --tpm unix:PATH or --tpm device:PATH, or --allow-no-tpm to serve receipts at L0 only`,
  );
}

/**
 * The kernel's IMA log to send with quotes, or undefined (logged once as `kernel_ima_absent`).
 * @throws AgentError AGENT_CONFIG_INVALID for a configured securityfs without a readable log, or
 *   an application PCR of 8-10 alongside a kernel log
 */
export function chooseKernel(opts: ResolvedAgentOptions, log: AgentLog): KernelLog | undefined {
  const absent = (why: string) => {
    log('kernel_ima_absent', {
      message: `${why}: receipts cannot reach L1 (the verifier fails host.integrity with KERNEL_LOG_ABSENT)`,
    });
    return undefined;
  };
  if (opts.kernel === false) return absent('kernel IMA log turned off');
  const securityfs = opts.kernel?.securityfs ?? DEFAULT_SECURITYFS;
  const path = join(securityfs, 'ima', 'binary_runtime_measurements');
  try {
    accessSync(path, constants.R_OK);
  } catch {
    if (opts.kernel !== undefined)
      throw new AgentError(
        'AGENT_CONFIG_INVALID',
        `no readable kernel IMA log at ${path} (kernel.securityfs)`,
      );
    return absent(`no kernel IMA log at ${path}`);
  }
  if (opts.appPcr <= KERNEL_PCR)
    throw new AgentError(
      'AGENT_CONFIG_INVALID',
      `appPcr ${opts.appPcr} is a measured-boot or IMA PCR (0-9 boot, 10 the kernel's log): use 11..15 with a kernel log`,
    );
  return new KernelLog({ securityfs });
}
