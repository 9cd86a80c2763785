import { TmbError } from '@tmb/core';

/** Codes of the simulated kernel's errors (docs/errors.md, package `demo`). */
export const KERNEL_SIM_ERROR_CODES = [
  'SIMKERNEL_UNAVAILABLE',
  'SIMKERNEL_TPM_FAILED',
  'SIMKERNEL_TPM_NOT_FRESH',
  'SIMKERNEL_HELPER_FAILED',
] as const;

/** One of KERNEL_SIM_ERROR_CODES. */
export type KernelSimErrorCode = (typeof KERNEL_SIM_ERROR_CODES)[number];

/**
 * An error of the simulated kernel (development only, docs/kernel.md). `missing` names what the
 * machine lacks when the code is SIMKERNEL_UNAVAILABLE: `root`, `fanotify`, `gcc` or `nsenter`.
 */
export class KernelSimError extends TmbError<KernelSimErrorCode> {
  readonly missing: 'root' | 'fanotify' | 'gcc' | 'nsenter' | null;

  constructor(
    code: KernelSimErrorCode,
    message: string,
    options: { cause?: unknown; missing?: 'root' | 'fanotify' | 'gcc' | 'nsenter' } = {},
  ) {
    super(
      'KernelSimError',
      code,
      message,
      options.cause === undefined ? undefined : { cause: options.cause },
    );
    this.missing = options.missing ?? null;
  }
}
