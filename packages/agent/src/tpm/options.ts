import type { PcrValues } from '@tmb/core/tpm';
import type { TctiConfig } from './tcti.ts';

/** Options of a TpmDriver. */
export interface TpmDriverOptions {
  /** Where the TPM is. */
  tcti: TctiConfig;
  /** A folder of this agent's own (created): the AK's public and private blobs and scratch files. */
  workDir: string;
  /**
   * The EK: `rsa` (default) RSA-2048 at persistent handle 0x81010001, certificate in NV 0x01c00002;
   * `ecc` NIST P-256 at 0x81010002, certificate in NV 0x01c0000a (TCG EK Credential Profile and
   * Provisioning Guidance handles). An EK missing from its handle is created there (owner auth empty).
   */
  ek?: 'rsa' | 'ecc';
  /** Per-tool timeout in ms (default 10,000); a tool past it is killed and TPM_TOOL_TIMEOUT thrown. */
  timeoutMs?: number;
  /**
   * The persistent handle the AK is kept at, so that a quote is one `tpm2_quote` (default
   * DEFAULT_AK_HANDLE, 0x81000a4b; agents sharing a TPM need one each). `null`: nothing persistent,
   * the AK is loaded under the EK and flushed for every quote (eight tool runs a quote).
   */
  akHandle?: number | null;
  /**
   * How the hot commands (quotes, PCR reads and extends, checkpoint signatures) reach the TPM:
   * `wire`, the driver's resident connection (wire.ts; no tool process per command); `tools`, one
   * tpm2-tools process each (as before); `auto` (default), the wire when the TPM answers on it at
   * the first hot command or open(), else tools. Provisioning (EK, AK, credential activation,
   * certification, evictions) always runs tpm2-tools; the wire is closed around each tool run.
   */
  transport?: 'auto' | 'wire' | 'tools';
  /** The wire's idle close in ms (TpmWireOptions.idleMs, default 10). */
  wireIdleMs?: number;
}

/** A quote as tpm2_quote writes it: TPMS_ATTEST, TPMT_SIGNATURE and the PCR values file. */
export interface QuoteOutput {
  attest: Uint8Array;
  signature: Uint8Array;
  /** The bytes of `tpm2_quote -o` (tpm2-tools' serialization). */
  pcrsFile: Uint8Array;
  pcrValues: PcrValues;
}
