import { readFile } from 'node:fs/promises';
import { parseTpm2bPublic, type TpmPublic } from '@tmb/core/tpm';
import { type HeldAk, handleVerdict, readHeldAk } from './ak.ts';
import { TpmDriverError } from './errors.ts';
import type { ToolOutput } from './exec.ts';

/** What the driver gives its AK slot: tool runs, its folder, flushing, the EK's handle. */
export interface AkSlotOps {
  tool(name: string, args: string[]): Promise<ToolOutput>;
  file(name: string): string;
  /** Runs `fn`, which loads objects or sessions, then flushes them. */
  flushed<T>(fn: () => Promise<T>): Promise<T>;
  ekHandle: string;
}

/**
 * The driver's AK and where it is: its blobs in the driver's folder, kept at a persistent handle
 * (`persistent`), loaded under the EK per use (`loaded`: no handle, or the handle holds somebody
 * else's key) or not yet checked (`unknown`). Every method runs inside the driver's queue.
 */
export class AkSlot {
  readonly #ops: AkSlotOps;
  readonly #handle: string | null;
  #ak: HeldAk | null = null;
  #at: 'unknown' | 'persistent' | 'loaded';

  constructor(ops: AkSlotOps, handle: string | null) {
    this.#ops = ops;
    this.#handle = handle;
    this.#at = handle === null ? 'loaded' : 'unknown';
  }

  /** Where quotes find the AK (TpmDriver.akMode). */
  get mode(): 'unknown' | 'persistent' | 'loaded' {
    return this.#at;
  }

  /** Forgets the AK (createAk makes a new one): its blobs are read again. */
  forget(): void {
    this.#ak = null;
    this.#at = this.#handle === null ? 'loaded' : 'unknown';
  }

  /** The AK's public area, parsed, name and quote arguments (read once from `ak.pub`). */
  async held(): Promise<HeldAk> {
    this.#ak ??= await readHeldAk(this.#ops.file('ak.pub'));
    return this.#ak;
  }

  /**
   * Makes the handle hold this AK (what it loads it flushes): reuses it when it holds this AK's
   * name, replaces an absent handle or another AK, leaves any other key alone (mode `loaded`).
   * `loaded` is the AK's context file when it is already loaded.
   */
  async place(loaded?: string): Promise<'persistent' | 'loaded'> {
    const handle = this.#handle!;
    const ak = await this.held();
    const found = this.#ops.file('handle.pub');
    let there: TpmPublic | null = null;
    let verdict: 'reuse' | 'replace' | 'refuse';
    try {
      await this.#ops.tool('tpm2_readpublic', ['-c', handle, '-o', found]);
      try {
        there = parseTpm2bPublic(new Uint8Array(await readFile(found)));
        verdict = handleVerdict(there, ak);
      } catch {
        verdict = 'refuse'; // an object of a type no AK has (keyedhash, symcipher): not ours
      }
    } catch (err) {
      // An empty handle fails TPM2_ReadPublic (TPM_RC_HANDLE); a dead TPM fails the next tool too.
      if (!(err instanceof TpmDriverError && err.code === 'TPM_TOOL_FAILED')) throw err;
      verdict = 'replace';
    }
    if (verdict !== 'replace') {
      this.#at = verdict === 'reuse' ? 'persistent' : 'loaded';
      return this.#at;
    }
    if (there !== null) await this.#ops.tool('tpm2_evictcontrol', ['-C', 'o', '-c', handle]);
    if (loaded !== undefined) await this.#ops.tool('tpm2_evictcontrol', ['-C', 'o', '-c', loaded, handle]);
    else
      await this.#ops.flushed(async () =>
        this.#ops.tool('tpm2_evictcontrol', ['-C', 'o', '-c', await this.load(), handle]),
      );
    this.#at = 'persistent';
    return this.#at;
  }

  /** Starts a policy session satisfying the EK's policy (PolicySecret of the endorsement hierarchy). */
  async ekSession(): Promise<string> {
    const s = this.#ops.file('session.ctx');
    await this.#ops.tool('tpm2_startauthsession', ['--policy-session', '-S', s]);
    await this.#ops.tool('tpm2_policysecret', ['-S', s, '-c', 'e']);
    return `session:${s}`;
  }

  /** Loads the AK from workDir under the EK; returns its context file. Inside the driver's queue. */
  async load(): Promise<string> {
    const ctx = this.#ops.file('ak.ctx');
    const auth = await this.ekSession();
    await this.#ops.tool('tpm2_load', [
      '-C',
      this.#ops.ekHandle,
      '-u',
      this.#ops.file('ak.pub'),
      '-r',
      this.#ops.file('ak.priv'),
      '-c',
      ctx,
      '-P',
      auth,
    ]);
    await this.#ops.tool('tpm2_flushcontext', [auth.slice('session:'.length)]);
    return ctx;
  }

  /** The AK's handle for TPM2_Certify: persistent, or loaded as the only transient object. */
  async forCertify(): Promise<number> {
    if (this.#at === 'unknown') await this.place();
    if (this.#at === 'persistent') return Number.parseInt(this.#handle!, 16);
    await this.#ops.tool('tpm2_flushcontext', ['-t']).catch(() => undefined);
    await this.load();
    const { stdout } = await this.#ops.tool('tpm2_getcap', ['handles-transient']);
    const m = /0x8[0-9a-fA-F]{7}/.exec(stdout);
    if (m === null) throw new TpmDriverError('TPM_TOOL_FAILED', 'no transient object loaded');
    return Number.parseInt(m[0], 16);
  }
}
