/**
 * Raw TPM 2.0 commands to an swtpm over its TCP data socket (the bytes tpm2-tss's swtpm TCTI
 * sends: a command, then its response), one connection held open and commands sent one at a
 * time. Why not tpm2-tools: one tool run costs about 30 ms of process start (docs/evidence.md,
 * "Rates"), so 10,000 simulated agents could not quote once a second; the TPM itself answers a
 * quote in well under a millisecond. Only what bench/scale needs: ActivateCredential under the
 * EK's policy, Certify and Sign (command layouts from packages/agent/src/tpm/raw.ts), Quote, and
 * PCR_Extend for the simulated boot (kernel.ts).
 * Layouts: TPM 2.0 Part 1, 18 (command/response) and 19.8 (sessions); Part 3 per command.
 */
import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { derEcdsaSignature } from '@tmb/core/log';
import { parseSignature, TpmAlg } from '@tmb/core/tpm';
import {
  certifyCommand,
  certifyResponse,
  signCommand,
  signResponse,
} from '../../packages/agent/src/tpm/raw.ts';

const ST_NO_SESSIONS = 0x8001;
const ST_SESSIONS = 0x8002;
const RS_PW = 0x40000009;
const RH_NULL = 0x40000007;
const RH_ENDORSEMENT = 0x4000000b;
const ALG_NULL = 0x0010;
const ALG_SHA256 = 0x000b;
const CC = {
  startAuthSession: 0x176,
  policySecret: 0x151,
  activate: 0x147,
  quote: 0x158,
  flush: 0x165,
  extend: 0x182,
};
/** Longest response accepted (a quote is a few hundred bytes). */
const MAX_RESPONSE = 64 * 1024;

const u16 = (v: number) => [(v >> 8) & 255, v & 255];
const u32 = (v: number) => [(v >>> 24) & 255, (v >>> 16) & 255, (v >>> 8) & 255, v & 255];
const tpm2b = (b: Uint8Array | number[]) => [...u16(b.length), ...b];

function frame(tag: number, cc: number, rest: number[]): Uint8Array {
  return new Uint8Array([...u16(tag), ...u32(10 + rest.length), ...u32(cc), ...rest]);
}

/** A command with an authorization area: password sessions (bytes) or a policy session (number). */
function withSessions(
  cc: number,
  handles: number[],
  auths: (Uint8Array | number)[],
  params: number[],
): Uint8Array {
  const area = auths.flatMap((a) =>
    typeof a === 'number'
      ? [...u32(a), ...tpm2b([...randomBytes(32)]), 0, ...u16(0)] // policy: no HMAC without PolicyAuthValue
      : [...u32(RS_PW), ...u16(0), 0, ...tpm2b(a)],
  );
  return frame(ST_SESSIONS, cc, [...handles.flatMap(u32), ...u32(area.length), ...area, ...params]);
}

/** TPMS_PCR_SELECTION of sha256 `pcrs` in a TPML of one (Part 2, 10.6.2). */
function sha256Selection(pcrs: readonly number[]): number[] {
  const bitmap = [0, 0, 0];
  for (const p of pcrs) bitmap[p >> 3]! |= 1 << (p & 7);
  return [...u32(1), ...u16(ALG_SHA256), 3, ...bitmap];
}

function rc(res: Uint8Array): number {
  return new DataView(res.buffer, res.byteOffset, res.byteLength).getUint32(6, false);
}

/** The parameter area of a response to a command with sessions (Part 1, 18.10). */
function params(res: Uint8Array, what: string, handles = 0): Uint8Array {
  if (rc(res) !== 0) throw new Error(`${what}: the TPM answered 0x${rc(res).toString(16)}`);
  const v = new DataView(res.buffer, res.byteOffset, res.byteLength);
  const at = 10 + 4 * handles;
  const size = v.getUint32(at, false);
  return res.subarray(at + 4, at + 4 + size);
}

/** One open connection to an swtpm's data port; commands are queued and sent one at a time. */
export class TpmSocket {
  readonly #socket: Socket;
  #queue: Promise<unknown> = Promise.resolve();
  #waiting: ((b: Uint8Array | Error) => void) | null = null;
  #buf = Buffer.alloc(0);
  /** ActivateCredential sequences, one at a time: swtpm has 3 session slots. */
  #sessions: Promise<unknown> = Promise.resolve();

  private constructor(socket: Socket) {
    this.#socket = socket;
    socket.setNoDelay(true);
    socket.on('data', (d: Buffer) => this.#data(d));
    socket.on('error', (e) => this.#fail(new Error(`swtpm: ${e.message}`, { cause: e })));
    socket.on('close', () => this.#fail(new Error('swtpm closed the connection')));
  }

  /** Connects to the swtpm data port at 127.0.0.1:`port`. */
  static open(port: number): Promise<TpmSocket> {
    return new Promise((resolve, reject) => {
      const s = connect(port, '127.0.0.1');
      s.once('connect', () => resolve(new TpmSocket(s)));
      s.once('error', reject);
    });
  }

  #data(d: Buffer): void {
    this.#buf = Buffer.concat([this.#buf, d]);
    if (this.#buf.length < 10) return;
    const size = this.#buf.readUInt32BE(2);
    if (size > MAX_RESPONSE) {
      this.#fail(new Error(`a TPM response of ${size} bytes`));
      this.#socket.destroy();
      return;
    }
    if (this.#buf.length < size) return;
    const res = new Uint8Array(this.#buf.subarray(0, size));
    this.#buf = this.#buf.subarray(size);
    const w = this.#waiting;
    this.#waiting = null;
    w?.(res);
  }

  #fail(e: Error): void {
    const w = this.#waiting;
    this.#waiting = null;
    w?.(e);
  }

  /** Sends one command and resolves with its whole response (10 s bound). */
  send(command: Uint8Array): Promise<Uint8Array> {
    const run = this.#queue.then(
      () =>
        new Promise<Uint8Array>((resolve, reject) => {
          const timer = setTimeout(() => this.#fail(new Error('swtpm did not answer in 10 s')), 10_000);
          this.#waiting = (r) => {
            clearTimeout(timer);
            if (r instanceof Error) reject(r);
            else resolve(r);
          };
          this.#socket.write(command);
        }),
    );
    this.#queue = run.catch(() => undefined);
    return run;
  }

  close(): void {
    this.#socket.destroy();
  }

  /**
   * TPM2_ActivateCredential of a `tpm2_makecredential -o` file (magic, version, TPM2B_ID_OBJECT,
   * TPM2B_ENCRYPTED_SECRET) with the AK at `ak` and the EK at `ek`, the EK authorised by a policy
   * session satisfying PolicySecret(TPM_RH_ENDORSEMENT) (the TCG EK template's policy).
   */
  activate(ak: number, ek: number, credentialFile: Uint8Array): Promise<Uint8Array> {
    const run = this.#sessions.then(() => this.#activate(ak, ek, credentialFile));
    this.#sessions = run.catch(() => undefined);
    return run;
  }

  async #activate(ak: number, ek: number, credentialFile: Uint8Array): Promise<Uint8Array> {
    const start = frame(ST_NO_SESSIONS, CC.startAuthSession, [
      ...u32(RH_NULL),
      ...u32(RH_NULL),
      ...tpm2b([...randomBytes(32)]),
      ...u16(0),
      0x01, // TPM_SE_POLICY
      ...u16(ALG_NULL),
      ...u16(ALG_SHA256),
    ]);
    const s = await this.send(start);
    if (rc(s) !== 0) throw new Error(`TPM2_StartAuthSession: 0x${rc(s).toString(16)}`);
    const session = new DataView(s.buffer, s.byteOffset).getUint32(10, false);
    try {
      const ps = withSessions(
        CC.policySecret,
        [RH_ENDORSEMENT, session],
        [new Uint8Array(0)],
        [...u16(0), ...u16(0), ...u16(0), ...u32(0)],
      );
      params(await this.send(ps), 'TPM2_PolicySecret');
      const cmd = withSessions(
        CC.activate,
        [ak, ek],
        [new Uint8Array(0), session],
        [...credentialFile.subarray(8)],
      );
      const p = params(await this.send(cmd), 'TPM2_ActivateCredential');
      return p.slice(2, 2 + ((p[0]! << 8) | p[1]!));
    } catch (err) {
      await this.send(frame(ST_NO_SESSIONS, CC.flush, u32(session))).catch(() => undefined);
      throw err;
    }
  }

  /** TPM2_Quote by the AK at `ak` (empty authValue, its own scheme) of sha256 `pcrs`: TPMS_ATTEST and TPMT_SIGNATURE. */
  async quote(
    ak: number,
    qualifying: Uint8Array,
    pcrs: readonly number[],
  ): Promise<{ attest: Uint8Array; signature: Uint8Array }> {
    const cmd = withSessions(
      CC.quote,
      [ak],
      [new Uint8Array(0)],
      [...tpm2b(qualifying), ...u16(ALG_NULL), ...sha256Selection(pcrs)],
    );
    const p = params(await this.send(cmd), 'TPM2_Quote');
    const size = (p[0]! << 8) | p[1]!;
    return { attest: p.slice(2, 2 + size), signature: p.slice(2 + size) };
  }

  /**
   * TPM2_PCR_Extend of one sha256 `digest` into `pcr` (Part 3, 22.2; the PCR's authValue is
   * empty). Queued in call order like every command: a quote asked for later covers it.
   */
  async extend(pcr: number, digest: Uint8Array): Promise<void> {
    const cmd = withSessions(
      CC.extend,
      [pcr],
      [new Uint8Array(0)],
      [...u32(1), ...u16(ALG_SHA256), ...digest],
    );
    const res = await this.send(cmd);
    if (rc(res) !== 0) throw new Error(`TPM2_PCR_Extend: the TPM answered 0x${rc(res).toString(16)}`);
  }

  /** TPM2_Certify of `object` (authValue `auth`) by the AK at `ak` over `qualifying`. */
  async certify(object: number, auth: Uint8Array, ak: number, qualifying: Uint8Array) {
    return certifyResponse(await this.send(certifyCommand(object, auth, ak, qualifying)));
  }

  /** TPM2_Sign of a SHA-256 `digest` by the ECDSA `key` (authValue `auth`): the signature as DER. */
  async sign(key: number, auth: Uint8Array, digest: Uint8Array): Promise<Uint8Array> {
    const sig = parseSignature(signResponse(await this.send(signCommand(key, auth, digest))));
    if (sig.sigAlg !== TpmAlg.ECDSA)
      throw new Error(`TPM2_Sign: a signature of algorithm ${sig.sigAlg}, not ECDSA`);
    return derEcdsaSignature(sig.r, sig.s);
  }
}
