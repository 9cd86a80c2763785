import { createHash, createPublicKey, type KeyObject, randomBytes, verify } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import {
  checkpointKeyAttributeProblem,
  parseSignature,
  parseTpm2bPublic,
  spkiOf,
  type TpmPublic,
  tpmName,
} from '@tmb/core/tpm';
import { TpmDriverError } from './errors.ts';
import type { ToolOutput } from './exec.ts';
import { certifyCommand, certifyResponse, signCommand, signResponse } from './raw.ts';

// The checkpoint key (docs/evidence.md, "The checkpoint key"): an ECDSA P-256 signing key made
// inside the TPM at each agent start, under the owner hierarchy's ECC primary (the same template
// each time: the primary is re-derived, never stored), non-exportable (fixedTPM, fixedParent,
// sensitiveDataOrigin), with a random authValue that exists only in the agent's memory and on the
// standard input of the tools that need it. It is made persistent next to the AK, so that a
// signature is one TPM2_Sign (over the driver's resident connection, or one tpm2_send run).

/**
 * tpm2_create's -a for the checkpoint key: a plain signing key, used with its authValue. noDA:
 * the authValue has 192 random bits, so guessing needs no lockout, and a process with the TPM's
 * command interface must not be able to lock the agent's signing out with wrong tries.
 */
export const CKEY_ATTRIBUTES = 'fixedtpm|fixedparent|sensitivedataorigin|userwithauth|noda|sign';

/** What the driver gives the checkpoint-key steps (inside its serial queue). */
export interface CkeyOps {
  tool(name: string, args: string[], input?: Uint8Array): Promise<ToolOutput>;
  send(command: Uint8Array): Promise<Uint8Array>;
  file(name: string): string;
  flushTransient(): Promise<void>;
}

/** The checkpoint key as the driver holds it. */
export interface HeldCkey {
  /** The authValue: 32 base64url characters (192 random bits), in memory only. */
  auth: Uint8Array;
  /** TPM2B_PUBLIC bytes, parsed, name, SPKI DER and a KeyObject to check signatures with. */
  public: Uint8Array;
  parsed: TpmPublic;
  name: Uint8Array;
  spki: Uint8Array;
  key: KeyObject;
  /** The persistent handle it is kept at. */
  handle: number;
}

const PRIMARY = ['-C', 'o', '-g', 'sha256', '-G', 'ecc256'];

/**
 * Creates a checkpoint key under the owner ECC primary and places it at `handle` (placeCkey).
 * @throws TpmDriverError TPM_TOOL_FAILED
 */
export async function createCkey(ops: CkeyOps, handle: number): Promise<HeldCkey> {
  // 192 random bits as 32 base64url characters: tpm2-tools reads a password file as a C string,
  // so a raw random value with a zero byte would be cut there (an intermittent TPM_RC_AUTH_FAIL).
  const auth = new Uint8Array(Buffer.from(randomBytes(24).toString('base64url'), 'ascii'));
  const [prim, pub, priv] = [ops.file('prim.ctx'), ops.file('ckey.pub'), ops.file('ckey.priv')];
  await ops.flushTransient();
  await ops.tool('tpm2_createprimary', [...PRIMARY, '-c', prim]);
  // Each use of a saved context loads another copy: flush between steps (swtpm has 3 slots).
  await ops.flushTransient();
  await ops.tool(
    'tpm2_create',
    [
      '-C',
      prim,
      '-G',
      'ecc256:ecdsa-sha256',
      '-g',
      'sha256',
      '-a',
      CKEY_ATTRIBUTES,
      '-p',
      'file:-',
      '-u',
      pub,
      '-r',
      priv,
    ],
    auth,
  );
  await ops.flushTransient();
  const bytes = new Uint8Array(await readFile(pub));
  const parsed = parseTpm2bPublic(bytes);
  const spki = spkiOf(parsed);
  const held: HeldCkey = {
    auth,
    public: bytes,
    parsed,
    name: tpmName(parsed),
    spki,
    key: createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' }),
    handle,
  };
  await placeCkey(ops, held, false);
  return held;
}

/**
 * Loads the key's blobs under the primary (re-derived when `newPrimary`) and makes it persistent
 * at its handle, evicting a checkpoint key found there (an earlier start's, or another agent's
 * on the same TPM and handle). Any other object at the handle is left alone.
 * @throws TpmDriverError TPM_TOOL_FAILED, also when the handle holds another program's object
 */
export async function placeCkey(ops: CkeyOps, held: HeldCkey, newPrimary = true): Promise<void> {
  const [prim, ctx, found] = [ops.file('prim.ctx'), ops.file('ckey.ctx'), ops.file('ckey.found.pub')];
  const h = hex(held.handle);
  if (newPrimary) {
    await ops.tool('tpm2_createprimary', [...PRIMARY, '-c', prim]);
    await ops.flushTransient();
  }
  let there = false;
  try {
    await ops.tool('tpm2_readpublic', ['-c', h, '-o', found]);
    there = true;
  } catch (err) {
    if (!(err instanceof TpmDriverError && err.code === 'TPM_TOOL_FAILED')) throw err;
  }
  if (there) {
    let ours = false;
    try {
      ours = checkpointKeyAttributeProblem(parseTpm2bPublic(new Uint8Array(await readFile(found)))) === null;
    } catch {
      ours = false;
    }
    if (!ours)
      throw new TpmDriverError(
        'TPM_TOOL_FAILED',
        `handle ${h} holds an object that is not a checkpoint key: left alone`,
      );
    await ops.tool('tpm2_evictcontrol', ['-C', 'o', '-c', h]);
  }
  await ops.tool('tpm2_load', [
    '-C',
    prim,
    '-u',
    ops.file('ckey.pub'),
    '-r',
    ops.file('ckey.priv'),
    '-c',
    ctx,
  ]);
  await ops.tool('tpm2_evictcontrol', ['-C', 'o', '-c', ctx, h]);
  await ops.flushTransient();
}

/** TPM2_Certify of the key by the AK at `akHandle` over `qualifyingData` (one raw command, `send`). */
export async function certifyCkey(
  ops: CkeyOps,
  held: HeldCkey,
  akHandle: number,
  qualifyingData: Uint8Array,
): Promise<{ attest: Uint8Array; signature: Uint8Array }> {
  return certifyResponse(await ops.send(certifyCommand(held.handle, held.auth, akHandle, qualifyingData)));
}

/**
 * TPM2_Sign of SHA-256(message) by the key (one raw command, `send`); returns the TPMT_SIGNATURE and
 * its r and s, or null when the signature does not verify under this key over `message` (the
 * handle was replaced: the caller places the key again).
 */
export async function signCkey(
  ops: CkeyOps,
  held: HeldCkey,
  message: Uint8Array,
): Promise<{ signature: Uint8Array; r: Uint8Array; s: Uint8Array } | null> {
  const digest = new Uint8Array(createHash('sha256').update(message).digest());
  const signature = signResponse(await ops.send(signCommand(held.handle, held.auth, digest)));
  const sig = parseSignature(signature);
  if (sig.sigAlg !== 0x0018) return null;
  const raw = new Uint8Array(64);
  if (sig.r.length > 32 || sig.s.length > 32) return null;
  raw.set(sig.r, 32 - sig.r.length);
  raw.set(sig.s, 64 - sig.s.length);
  let ok = false;
  try {
    ok = verify('sha256', message, { key: held.key, dsaEncoding: 'ieee-p1363' }, raw);
  } catch {
    ok = false;
  }
  return ok ? { signature, r: sig.r, s: sig.s } : null;
}

/** A handle as tpm2-tools takes it. */
function hex(handle: number): string {
  return `0x${handle.toString(16).padStart(8, '0')}`;
}

/**
 * This start's checkpoint key as the driver holds it: create (key, persist, certify) and sign,
 * each run inside the driver's serial queue. `run` starts one tool, or for `tpm2_send`
 * sends the raw command (over the wire, or tpm2_send's output as bytes).
 */
export class CheckpointKeys {
  readonly #ops: CkeyOps;
  readonly #handle: number;
  readonly #akHandle: () => Promise<number>;
  #held: HeldCkey | null = null;

  constructor(o: {
    handle: number;
    run(name: string, args: string[], input?: Uint8Array): Promise<ToolOutput | Uint8Array>;
    file(name: string): string;
    akHandle(): Promise<number>;
  }) {
    this.#handle = o.handle;
    this.#akHandle = o.akHandle;
    this.#ops = {
      tool: (name, args, input) => o.run(name, args, input) as Promise<ToolOutput>,
      send: (command) => o.run('tpm2_send', [], command) as Promise<Uint8Array>,
      file: o.file,
      flushTransient: async () => {
        await o.run('tpm2_flushcontext', ['-t']).catch(() => undefined);
      },
    };
  }

  /** TPM2B_PUBLIC and SPKI DER of the key, or null before create. */
  get current(): { public: Uint8Array; spki: Uint8Array } | null {
    return this.#held === null ? null : { public: this.#held.public, spki: this.#held.spki };
  }

  /**
   * Creates the key (createCkey), then TPM2_Certify by the AK over `qualifyingData` (core
   * checkpointKeyQualifying). Returns the key's TPM2B_PUBLIC, SPKI DER, TPMS_ATTEST and the AK's
   * TPMT_SIGNATURE. @throws TpmDriverError
   */
  async create(
    qualifyingData: Uint8Array,
  ): Promise<{ public: Uint8Array; spki: Uint8Array; certifyInfo: Uint8Array; signature: Uint8Array }> {
    const held = await createCkey(this.#ops, this.#handle);
    this.#held = held;
    const c = await certifyCkey(this.#ops, held, await this.#akHandle(), qualifyingData);
    return { public: held.public, spki: held.spki, certifyInfo: c.attest, signature: c.signature };
  }

  /**
   * Signs SHA-256(`message`): one raw TPM2_Sign (a tpm2_send run took about 30 ms on swtpm,
   * bench/tpm-keys.bench.ts; the driver's wire sends it without a process).
   * The signature is checked against the key; a handle found holding another key is placed
   * again and the signature made once more. Returns r and s (big-endian).
   * @throws TpmDriverError TPM_TOOL_FAILED before create, or when the TPM refuses
   */
  async sign(message: Uint8Array): Promise<{ r: Uint8Array; s: Uint8Array }> {
    const held = this.#held;
    if (held === null)
      throw new TpmDriverError('TPM_TOOL_FAILED', 'no checkpoint key: call createCheckpointKey');
    const first = await signCkey(this.#ops, held, message).catch((err: unknown) => {
      if (err instanceof TpmDriverError && err.code === 'TPM_TOOL_FAILED') return null;
      throw err;
    });
    if (first !== null) return { r: first.r, s: first.s };
    await placeCkey(this.#ops, held);
    const again = await signCkey(this.#ops, held, message);
    if (again === null)
      throw new TpmDriverError(
        'TPM_TOOL_FAILED',
        'the checkpoint key signature does not verify after placing it again',
      );
    return { r: again.r, s: again.s };
  }
}
