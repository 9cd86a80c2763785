import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { toHex } from '@tmb/core';
import { hashName, type PcrValues, parsePcrsFile, parseTpm2bPublic, TpmAlg, tpmName } from '@tmb/core/tpm';
import { TpmDriverError } from './errors.ts';
import { runTool, type ToolOutput } from './exec.ts';
import { type TctiConfig, tctiString } from './tcti.ts';

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
}

/** The AK key and signing scheme: tpm2_createak's -G/-g/-s. ECC P-256 with ECDSA/SHA-256 is the default. */
export type AkAlg = 'ecc256' | 'ecc384' | 'rsassa' | 'rsapss';

const AK_ARGS: Record<AkAlg, string[]> = {
  ecc256: ['-G', 'ecc256', '-g', 'sha256', '-s', 'ecdsa'],
  ecc384: ['-G', 'ecc384', '-g', 'sha384', '-s', 'ecdsa'],
  rsassa: ['-G', 'rsa', '-g', 'sha256', '-s', 'rsassa'],
  rsapss: ['-G', 'rsa', '-g', 'sha256', '-s', 'rsapss'],
};

/** A quote as tpm2_quote writes it: TPMS_ATTEST, TPMT_SIGNATURE and the PCR values file. */
export interface QuoteOutput {
  attest: Uint8Array;
  signature: Uint8Array;
  /** The bytes of `tpm2_quote -o` (tpm2-tools' serialization). */
  pcrsFile: Uint8Array;
  pcrValues: PcrValues;
}

const EK = {
  rsa: { handle: '0x81010001', nv: '0x01c00002', alg: 'rsa' },
  ecc: { handle: '0x81010002', nv: '0x01c0000a', alg: 'ecc' },
} as const;

/** The length of one DER value at the start of `b` (NV indices pad certificates), or b.length. */
function derLength(b: Uint8Array): number {
  if (b.length < 2 || b[0] !== 0x30) return b.length;
  const first = b[1]!;
  if (first < 0x80) return Math.min(b.length, 2 + first);
  const n = first & 0x7f;
  let len = 0;
  for (let i = 0; i < n; i++) len = len * 256 + (b[2 + i] ?? 0);
  return Math.min(b.length, 2 + n + len);
}

/**
 * Drives a TPM through tpm2-tools. Every command runs with a timeout; commands are serialised
 * (swtpm has no resource manager); every transient object and session the driver loads is
 * flushed before the command's promise settles, whether it succeeded or not. Persistent
 * handles: only the EK's (see `ek`); the AK is kept as blobs in `workDir` and loaded per use.
 */
export class TpmDriver {
  readonly tcti: string;
  readonly workDir: string;
  readonly ek: (typeof EK)['rsa' | 'ecc'];
  readonly timeoutMs: number;
  #queue: Promise<unknown> = Promise.resolve();

  constructor(opts: TpmDriverOptions) {
    this.tcti = tctiString(opts.tcti);
    this.workDir = resolve(opts.workDir);
    this.ek = EK[opts.ek ?? 'rsa'];
    this.timeoutMs = opts.timeoutMs ?? 10_000;
  }

  #tool(name: string, args: string[]): Promise<ToolOutput> {
    return runTool(name, args, { tcti: this.tcti, timeoutMs: this.timeoutMs, cwd: this.workDir });
  }

  #file(name: string): string {
    return join(this.workDir, name);
  }

  /** Runs `fn` after every earlier command, then flushes transient objects and sessions. */
  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(async () => {
      await mkdir(this.workDir, { recursive: true });
      try {
        return await fn();
      } finally {
        await this.#flush();
      }
    });
    this.#queue = run.catch(() => undefined);
    return run;
  }

  async #flush(): Promise<void> {
    for (const flag of ['-t', '-l', '-s'])
      await this.#tool('tpm2_flushcontext', [flag]).catch(() => undefined);
  }

  /**
   * Checks that a TPM answers. @throws TpmDriverError TPM_UNAVAILABLE naming the TCTI and why
   */
  open(): Promise<void> {
    return this.#serial(async () => {
      try {
        await this.#tool('tpm2_getcap', ['properties-fixed']);
      } catch (err) {
        if (err instanceof TpmDriverError && err.code === 'TPM_UNAVAILABLE') throw err;
        throw new TpmDriverError(
          'TPM_UNAVAILABLE',
          `no TPM answers at ${this.tcti}: ${(err as Error).message}`,
          {
            cause: err,
          },
        );
      }
    });
  }

  /** The EK's TPM2B_PUBLIC, creating the EK at its persistent handle when missing. */
  readEkPublic(): Promise<Uint8Array> {
    return this.#serial(async () => {
      const out = this.#file('ek.pub');
      try {
        await this.#tool('tpm2_readpublic', ['-c', this.ek.handle, '-o', out]);
      } catch {
        await this.#tool('tpm2_createek', ['-G', this.ek.alg, '-c', this.ek.handle, '-u', out]);
      }
      return new Uint8Array(await readFile(out));
    });
  }

  /** The EK certificate (DER) from its NV index, or null when the TPM holds none. */
  readEkCertificate(): Promise<Uint8Array | null> {
    return this.#serial(async () => {
      const out = this.#file('ek.crt');
      try {
        await this.#tool('tpm2_nvread', ['-C', 'o', '-o', out, this.ek.nv]);
      } catch {
        return null;
      }
      const der = new Uint8Array(await readFile(out));
      return der.subarray(0, derLength(der));
    });
  }

  /**
   * Creates an AK under the EK (a restricted signing key, tpm2_createak), keeps its blobs in
   * workDir (replacing any earlier AK), and returns its TPM2B_PUBLIC and name (computed here from
   * the public area).
   */
  createAk(alg: AkAlg = 'ecc256'): Promise<{ public: Uint8Array; name: Uint8Array }> {
    return this.#serial(async () => {
      const [pub, priv] = [this.#file('ak.pub'), this.#file('ak.priv')];
      await this.#tool('tpm2_createak', [
        '-C',
        this.ek.handle,
        ...AK_ARGS[alg],
        '-u',
        pub,
        '-r',
        priv,
        '-c',
        this.#file('ak.ctx'),
      ]);
      const bytes = new Uint8Array(await readFile(pub));
      return { public: bytes, name: tpmName(parseTpm2bPublic(bytes)) };
    });
  }

  /** Starts a policy session satisfying the EK's policy (PolicySecret of the endorsement hierarchy). */
  async #ekSession(): Promise<string> {
    const s = this.#file('session.ctx');
    await this.#tool('tpm2_startauthsession', ['--policy-session', '-S', s]);
    await this.#tool('tpm2_policysecret', ['-S', s, '-c', 'e']);
    return `session:${s}`;
  }

  /** Loads the AK from workDir under the EK; returns its context file. Call inside #serial. */
  async #loadAk(): Promise<string> {
    const ctx = this.#file('ak.ctx');
    const auth = await this.#ekSession();
    await this.#tool('tpm2_load', [
      '-C',
      this.ek.handle,
      '-u',
      this.#file('ak.pub'),
      '-r',
      this.#file('ak.priv'),
      '-c',
      ctx,
      '-P',
      auth,
    ]);
    await this.#tool('tpm2_flushcontext', [auth.slice('session:'.length)]);
    return ctx;
  }

  /**
   * TPM2_ActivateCredential with the AK and EK: recovers the secret from a credential file in the
   * `tpm2_makecredential -o` layout (as core's makeCredential writes it).
   */
  activateCredential(credentialFile: Uint8Array): Promise<Uint8Array> {
    return this.#serial(async () => {
      const ak = await this.#loadAk();
      const [inp, out] = [this.#file('cred.in'), this.#file('cred.out')];
      await rm(out, { force: true });
      await writeFile(inp, credentialFile);
      const auth = await this.#ekSession();
      await this.#tool('tpm2_activatecredential', [
        '-c',
        ak,
        '-C',
        this.ek.handle,
        '-i',
        inp,
        '-o',
        out,
        '-P',
        auth,
      ]);
      return new Uint8Array(await readFile(out));
    });
  }

  /**
   * TPM2_Quote by the AK over `pcrs` of `bank` with `qualifyingData` (at most 64 bytes), signed with
   * the AK's scheme.
   */
  quote(
    pcrs: readonly number[],
    qualifyingData: Uint8Array,
    bank: 'sha256' | 'sha384' = 'sha256',
  ): Promise<QuoteOutput> {
    return this.#serial(async () => {
      const ak = await this.#loadAk();
      const [m, s, o] = [this.#file('quote.msg'), this.#file('quote.sig'), this.#file('quote.pcrs')];
      await Promise.all([m, s, o].map((f) => rm(f, { force: true })));
      const sel = `${bank}:${pcrs.join(',')}`;
      // The signing hash must be the AK scheme's: a restricted key refuses any other.
      const scheme = parseTpm2bPublic(new Uint8Array(await readFile(this.#file('ak.pub')))).scheme;
      const hash = hashName(scheme.hashAlg ?? TpmAlg.SHA256) ?? 'sha256';
      const args = ['-c', ak, '-l', sel, '-q', toHex(qualifyingData), '-g', hash];
      if (scheme.scheme === TpmAlg.RSAPSS) args.push('--scheme', 'rsapss');
      await this.#tool('tpm2_quote', [...args, '-m', m, '-s', s, '-o', o]);
      const [attest, signature, pcrsFile] = await Promise.all(
        [m, s, o].map(async (f) => new Uint8Array(await readFile(f))),
      );
      return {
        attest: attest!,
        signature: signature!,
        pcrsFile: pcrsFile!,
        pcrValues: parsePcrsFile(pcrsFile!),
      };
    });
  }

  /** TPM2_PCR_Extend of a SHA-256 bank PCR with a 32-byte digest. */
  pcrExtend(pcr: number, sha256Digest: Uint8Array): Promise<void> {
    if (sha256Digest.length !== 32 || !Number.isInteger(pcr) || pcr < 0 || pcr > 23)
      throw new RangeError('pcrExtend takes a PCR 0..23 and a 32-byte SHA-256 digest');
    return this.#serial(async () => {
      await this.#tool('tpm2_pcrextend', [`${pcr}:sha256=${toHex(sha256Digest)}`]);
    });
  }

  /** Current values of `pcrs` in `bank`, by index. */
  pcrRead(pcrs: readonly number[], bank: 'sha256' | 'sha384' = 'sha256'): Promise<Map<number, Uint8Array>> {
    return this.#serial(async () => {
      const { stdout } = await this.#tool('tpm2_pcrread', [`${bank}:${pcrs.join(',')}`]);
      const out = new Map<number, Uint8Array>();
      for (const m of stdout.matchAll(/^\s+(\d+)\s*:\s*0x([0-9A-Fa-f]+)\s*$/gm))
        out.set(Number(m[1]), Uint8Array.from(Buffer.from(m[2]!, 'hex')));
      return out;
    });
  }
}
