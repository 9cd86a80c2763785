import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { toHex } from '@tmb/core';
import { parsePcrsFile } from '@tmb/core/tpm';
import { AK_ARGS, type AkAlg, DEFAULT_AK_HANDLE, handleText, signedBy } from './ak.ts';
import { AkSlot } from './akslot.ts';
import { CheckpointKeys } from './ckey.ts';
import { derLength, EK } from './ek.ts';
import { TpmDriverError } from './errors.ts';
import { runTool, runToolBytes, type ToolOutput } from './exec.ts';
import type { QuoteOutput, TpmDriverOptions } from './options.ts';
import { QuoteOutputs } from './pipes.ts';
import { tctiString } from './tcti.ts';
import { TpmWire } from './wire.ts';
import {
  bankSelect,
  chooseTransport,
  extendOverWire,
  pcrreadValues,
  pcrValuesOverWire,
  quoteOverWire,
} from './wireops.ts';

export type { QuoteOutput, TpmDriverOptions } from './options.ts';

/**
 * Drives a TPM: provisioning through tpm2-tools, the hot commands (quotes, PCR reads and extends,
 * checkpoint signatures) over a resident connection (wire.ts) or tpm2-tools (`transport`). Every
 * command runs with a timeout; commands are serialised (swtpm has no resource manager). Every transient object and session the driver loads is
 * flushed before the command's promise settles, whether it succeeded or not; commands that load
 * nothing (quotes with the persistent AK, PCR reads and extends) flush only when they fail.
 * Persistent handles: the EK's (see `ek`) and the AK's (`akHandle`): the AK is created under the
 * EK, its blobs kept in `workDir`, and made persistent so that a quote is one `tpm2_quote` run.
 */
export class TpmDriver {
  readonly tcti: string;
  readonly workDir: string;
  readonly ek: (typeof EK)['rsa' | 'ecc'];
  readonly timeoutMs: number;
  /** Where the AK is kept persistent (`0x81000a4b`), or null when it is loaded per use. */
  readonly akHandle: string | null;
  #queue: Promise<unknown> = Promise.resolve();
  /** The AK and whether akHandle was seen to hold it (akslot.ts). */
  readonly #ak: AkSlot;
  #toolRuns = 0;
  #made = false;
  #outputs: QuoteOutputs | undefined;
  /** This start's checkpoint key (ckey.ts). */
  readonly #ckeys: CheckpointKeys;
  /** Where the checkpoint key is kept persistent: the handle after the AK's (default 0x81000a4c). */
  readonly ckeyHandle: number;
  /** The resident connection (wire.ts) the hot commands take when `transport` is `wire`. */
  readonly #wire: TpmWire;
  readonly #wanted: 'auto' | 'wire' | 'tools';
  #transport: 'unknown' | 'wire' | 'tools' = 'unknown';

  constructor(opts: TpmDriverOptions) {
    this.tcti = tctiString(opts.tcti);
    this.workDir = resolve(opts.workDir);
    this.ek = EK[opts.ek ?? 'rsa'];
    this.timeoutMs = opts.timeoutMs ?? 10_000;
    const h = opts.akHandle === undefined ? DEFAULT_AK_HANDLE : opts.akHandle;
    if (h !== null && !(Number.isInteger(h) && h >= 0x81000000 && h <= 0x817fffff))
      throw new RangeError(`akHandle must be in the owner's persistent range 0x81000000-0x817fffff`);
    this.akHandle = h === null ? null : handleText(h);
    this.#ak = new AkSlot(
      {
        tool: (name, args) => this.#tool(name, args),
        file: (name) => this.#file(name),
        flushed: (fn) => this.#flushed(fn),
        ekHandle: this.ek.handle,
      },
      this.akHandle,
    );
    this.ckeyHandle = (h ?? DEFAULT_AK_HANDLE) + 1;
    this.#wanted = opts.transport ?? 'auto';
    this.#wire = new TpmWire(opts.tcti, { timeoutMs: this.timeoutMs, idleMs: opts.wireIdleMs });
    this.#ckeys = new CheckpointKeys({
      handle: this.ckeyHandle,
      run: async (name, args, input) => {
        const wire = name === 'tpm2_send' ? await this.#hot() : null;
        if (wire !== null) return wire.send(input!);
        this.#wire.release(); // swtpm serves one client: the tool's TCTI must get in
        this.#toolRuns++;
        const o = { tcti: this.tcti, timeoutMs: this.timeoutMs, cwd: this.workDir, input };
        return name === 'tpm2_send' ? runToolBytes(name, args, o) : runTool(name, args, o);
      },
      file: (name) => this.#file(name),
      akHandle: () => this.#ak.forCertify(),
    });
  }

  /** How many tool processes this driver has started (bench/quote.bench.ts counts them per quote). */
  get toolRuns(): number {
    return this.#toolRuns;
  }

  /**
   * How quotes find the AK: `persistent` at akHandle (one tool run a quote), `loaded` from its
   * blobs each time (akHandle null, or the handle holds a key that is not an AK: left alone), or
   * `unknown` before the first quote or createAk.
   */
  get akMode(): 'unknown' | 'persistent' | 'loaded' {
    return this.#ak.mode;
  }

  /**
   * How quotes get tpm2_quote's outputs: `pipes` (named pipes made once in workDir: no file is
   * written and read back per quote, which a host's IMA would measure each time), `files` (the
   * folder cannot hold named pipes: three files a quote), or `unknown` before the first quote.
   */
  get quoteOutputs(): 'unknown' | 'pipes' | 'files' {
    return this.#outputs?.kind ?? 'unknown';
  }

  /**
   * How hot commands reach the TPM: `wire` (the resident connection), `tools` (a process each),
   * or `unknown` before open() or the first hot command decides (TpmDriverOptions.transport).
   */
  get transport(): 'unknown' | 'wire' | 'tools' {
    return this.#transport;
  }

  /** Connections the wire has opened (bench/quote.bench.ts). */
  get wireConnects(): number {
    return this.#wire.connects;
  }

  /**
   * The wire for a hot command, or null for tools: decided once, by one TPM2_PCR_Read of no PCR.
   * @throws TpmDriverError TPM_UNAVAILABLE with transport `wire` when the TPM does not answer on it
   */
  async #hot(): Promise<TpmWire | null> {
    if (this.#transport === 'unknown')
      this.#transport = await chooseTransport(this.#wire, this.#wanted, this.tcti);
    return this.#transport === 'wire' ? this.#wire : null;
  }

  /** Closes the quote pipes and the wire (a later command opens them again). */
  close(): Promise<void> {
    return this.#serial(async () => {
      this.#wire.release();
      this.#outputs?.close();
      this.#outputs = undefined;
    }, 'on-error');
  }

  #tool(name: string, args: string[]): Promise<ToolOutput> {
    this.#wire.release(); // swtpm serves one client: the tool's TCTI must get in
    this.#toolRuns++;
    return runTool(name, args, { tcti: this.tcti, timeoutMs: this.timeoutMs, cwd: this.workDir });
  }

  #file(name: string): string {
    return join(this.workDir, name);
  }

  /**
   * Runs `fn` after every earlier command, then flushes transient objects and sessions: always
   * (`fn` loads some), or only when `fn` failed (`fn` loads none itself, or flushes what it loads).
   */
  #serial<T>(fn: () => Promise<T>, flush: 'always' | 'on-error' = 'always'): Promise<T> {
    const run = this.#queue.then(async () => {
      if (!this.#made) {
        await mkdir(this.workDir, { recursive: true });
        this.#made = true;
      }
      let ok = false;
      try {
        const out = await fn();
        ok = true;
        return out;
      } finally {
        if (flush === 'always' || !ok) await this.#flush();
      }
    });
    this.#queue = run.catch(() => undefined);
    return run;
  }

  async #flush(): Promise<void> {
    for (const flag of ['-t', '-l', '-s'])
      await this.#tool('tpm2_flushcontext', [flag]).catch(() => undefined);
  }

  /** Runs `fn`, which loads objects or sessions, then flushes them. */
  async #flushed<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } finally {
      await this.#flush();
    }
  }

  /**
   * Checks that a TPM answers, then flushes every transient object and session (a crashed earlier
   * run may have left some: swtpm has three object slots).
   * @throws TpmDriverError TPM_UNAVAILABLE naming the TCTI and why
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
      await this.#hot();
    });
  }

  /** The EK's TPM2B_PUBLIC, creating the EK at its persistent handle when missing. */
  readEkPublic(): Promise<Uint8Array> {
    return this.#serial(async () => {
      const out = this.#file('ek.pub');
      try {
        await this.#tool('tpm2_readpublic', ['-c', this.ek.handle, '-o', out]);
      } catch {
        await this.#flushed(() =>
          this.#tool('tpm2_createek', ['-G', this.ek.alg, '-c', this.ek.handle, '-u', out]),
        );
      }
      return new Uint8Array(await readFile(out));
    }, 'on-error');
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
    }, 'on-error');
  }

  /**
   * Creates an AK under the EK (a restricted signing key, tpm2_createak), keeps its blobs in
   * workDir (replacing any earlier AK), makes it persistent at akHandle (replacing the earlier AK
   * there; see akMode), and returns its TPM2B_PUBLIC and name (computed here from the public area).
   */
  createAk(alg: AkAlg = 'ecc256'): Promise<{ public: Uint8Array; name: Uint8Array }> {
    return this.#serial(async () => {
      const [pub, priv, ctx] = [this.#file('ak.pub'), this.#file('ak.priv'), this.#file('ak.ctx')];
      this.#ak.forget();
      const where = ['-u', pub, '-r', priv, '-c', ctx];
      await this.#tool('tpm2_createak', ['-C', this.ek.handle, ...AK_ARGS[alg], ...where]);
      const ak = await this.#ak.held();
      // The new AK is loaded (ak.ctx): persist that copy rather than load it again.
      if (this.akHandle !== null) await this.#ak.place(ctx);
      return { public: ak.public, name: ak.name };
    });
  }

  /**
   * TPM2_ActivateCredential with the AK and EK: recovers the secret from a credential file in the
   * `tpm2_makecredential -o` layout (as core's makeCredential writes it). The AK is loaded from its
   * blobs (not the persistent handle: another program may have replaced what it holds).
   */
  activateCredential(credentialFile: Uint8Array): Promise<Uint8Array> {
    return this.#serial(async () => {
      const ak = await this.#ak.load();
      const [inp, out] = [this.#file('cred.in'), this.#file('cred.out')];
      await rm(out, { force: true });
      await writeFile(inp, credentialFile);
      const auth = await this.#ak.ekSession();
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
   * the AK's scheme. With the AK persistent this is one `tpm2_quote` run; the quote's signature is
   * checked against this AK, and a handle found holding another key (or failing) is placed again
   * and the quote made once more. The first quote of a driver checks the handle (tpm2_readpublic).
   */
  quote(
    pcrs: readonly number[],
    qualifyingData: Uint8Array,
    bank: 'sha256' | 'sha384' = 'sha256',
  ): Promise<QuoteOutput> {
    const sel = `${bank}:${pcrs.join(',')}`;
    return this.#serial(async () => {
      if (this.#ak.mode === 'unknown') await this.#ak.place();
      if (this.#ak.mode === 'loaded')
        return this.#flushed(async () => this.#quoteBy(await this.#ak.load(), sel, qualifyingData));
      const ak = await this.#ak.held();
      const wire = await this.#hot();
      // By the persistent AK: one TPM2_Quote and PCR reads on the wire, or one tpm2_quote run.
      const byHandle = () =>
        wire === null
          ? this.#quoteBy(this.akHandle!, sel, qualifyingData)
          : quoteOverWire(wire, Number.parseInt(this.akHandle!, 16), bankSelect(bank, pcrs), qualifyingData);
      try {
        const q = await byHandle();
        if (signedBy(q, ak, qualifyingData, wire !== null)) return q;
      } catch (err) {
        if (!(err instanceof TpmDriverError && err.code === 'TPM_TOOL_FAILED')) throw err;
      }
      // The handle no longer holds this AK (evicted, taken by another agent, TPM cleared), or a
      // PCR changed between the wire's quote and read (tpm2_quote fails then): place it, again.
      const placed = await this.#ak.place();
      const q =
        placed === 'persistent'
          ? await this.#flushed(byHandle)
          : await this.#flushed(async () => this.#quoteBy(await this.#ak.load(), sel, qualifyingData));
      if (!signedBy(q, ak, qualifyingData, wire !== null && placed === 'persistent'))
        throw new TpmDriverError(
          'TPM_TOOL_FAILED',
          `the quote by ${placed === 'persistent' ? this.akHandle : 'the loaded AK'} is not signed by this driver's AK over the PCR values read`,
        );
      return q;
    }, 'on-error');
  }

  /**
   * One tpm2_quote run by `ak` (a handle or a context file), its three outputs read back from the
   * driver's named pipes (or files, see quoteOutputs). They are a few hundred bytes: read
   * synchronously, since every await costs a turn of an event loop the proxy keeps busy
   * (bench/attest.bench.ts `quote_step_p50`).
   */
  async #quoteBy(ak: string, sel: string, qualifyingData: Uint8Array): Promise<QuoteOutput> {
    const { quoteArgs } = await this.#ak.held();
    this.#outputs ??= await QuoteOutputs.open(this.workDir, this.timeoutMs);
    const out = this.#outputs;
    const [m, s, o] = out.paths as [string, string, string];
    out.begin();
    const q = toHex(qualifyingData);
    await this.#tool('tpm2_quote', ['-c', ak, '-l', sel, '-q', q, ...quoteArgs, '-m', m, '-s', s, '-o', o]);
    const [attest, signature, pcrsFile] = out.collect();
    return {
      attest: attest!,
      signature: signature!,
      pcrsFile: pcrsFile!,
      pcrValues: parsePcrsFile(pcrsFile!),
    };
  }

  /**
   * Creates this start's checkpoint key in the TPM and has the AK certify it over
   * `qualifyingData` (CheckpointKeys.create in ckey.ts). Call after createAk.
   */
  createCheckpointKey(qualifyingData: Uint8Array): ReturnType<CheckpointKeys['create']> {
    return this.#serial(() => this.#ckeys.create(qualifyingData));
  }

  /** Signs SHA-256(`message`) with the checkpoint key (CheckpointKeys.sign: one TPM2_Sign). */
  signWithCheckpointKey(message: Uint8Array): ReturnType<CheckpointKeys['sign']> {
    return this.#serial(() => this.#ckeys.sign(message), 'on-error');
  }

  /** TPM2B_PUBLIC and SPKI DER of this start's checkpoint key, or null before createCheckpointKey. */
  get checkpointKey(): { public: Uint8Array; spki: Uint8Array } | null {
    return this.#ckeys.current;
  }

  /** TPM2_PCR_Extend of a SHA-256 bank PCR with a 32-byte digest. */
  pcrExtend(pcr: number, sha256Digest: Uint8Array): Promise<void> {
    if (sha256Digest.length !== 32 || !Number.isInteger(pcr) || pcr < 0 || pcr > 23)
      throw new RangeError('pcrExtend takes a PCR 0..23 and a 32-byte SHA-256 digest');
    return this.#serial(async () => {
      const wire = await this.#hot();
      if (wire !== null) await extendOverWire(wire, pcr, sha256Digest);
      else await this.#tool('tpm2_pcrextend', [`${pcr}:sha256=${toHex(sha256Digest)}`]);
    }, 'on-error');
  }

  /** Current values of `pcrs` in `bank`, by index. */
  pcrRead(pcrs: readonly number[], bank: 'sha256' | 'sha384' = 'sha256'): Promise<Map<number, Uint8Array>> {
    return this.#serial(async () => {
      const wire = await this.#hot();
      if (wire !== null) return pcrValuesOverWire(wire, bankSelect(bank, pcrs));
      const { stdout } = await this.#tool('tpm2_pcrread', [`${bank}:${pcrs.join(',')}`]);
      return pcrreadValues(stdout);
    }, 'on-error');
  }
}
