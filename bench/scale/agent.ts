/**
 * One simulated agent of the scale bench: what `tmb agent` does towards its verifier, without
 * the proxy. It enrols its Ed25519 receipt key, enrols the TPM's EK and AK and activates the AK
 * (ActivateCredential on the real swtpm), has the TPM's checkpoint key certified for its receipt
 * key, then each cycle pushes its new receipts, signs a checkpoint over them (Ed25519 here, ECDSA
 * in the TPM), asks for a nonce and posts the TPM's quote over it. Nothing is pre-computed that
 * the verifier checks for freshness: every quote is made by the swtpm over the nonce just issued.
 * With a simulated boot (kernel.ts), each evidence carries the kernel IMA log from the verifier's
 * `kernelFrom` to the last entry logged, read after the quote, and the boot event log when the
 * verifier asks for it (`bootLog`, or a first quote), as the agent sends them (docs/evidence.md).
 */
import { createHash, sign } from 'node:crypto';
import { type AgentKey, generateAgentKey } from '@tmb/agent';
import { checkpointSigner } from '@tmb/agent/log';
import {
  encodeReceiptBody,
  fromBase64Url,
  fromHex,
  type ReceiptBody,
  receiptSigningMessage,
  type SignedReceipt,
  toBase64Url,
  toSignedReceipt,
} from '@tmb/core';
import { quoteQualifyingData } from '@tmb/core/host';
import {
  consistencyProof,
  ecdsaNoteSigner,
  encodeConsistencyProof,
  leafHash,
  logOrigin,
  MemoryTree,
  signCheckpoint,
} from '@tmb/core/log';
import { checkpointKeyQualifying } from '@tmb/core/tpm';
import { chatFields } from '../servers.ts';
import type { Http } from './http.ts';
import { type SimKernel, withPcr10 } from './kernel.ts';
import type { TpmSocket } from './tpm.ts';
import { APP_PCR, QUOTE_PCRS, type TpmHost } from './tpms.ts';

interface NonceAnswer {
  nonce: string;
  logFrom: number;
  checkpointSize: number | null;
  resetCount?: number | null;
  kernelFrom?: unknown;
  bootLog?: unknown;
}

/** What one cycle did: accepted, or the verifier's refusal (status and body head). */
export type CycleOutcome =
  | { ok: true; receipts: number; kernelEntries: number }
  | { ok: false; status: number; body: string };

/** A simulated agent: its name, token, receipt key, receipt log and TPM (shared with others). */
export class SimAgent {
  readonly name: string;
  readonly token: string;
  readonly #key: AgentKey;
  readonly #tree = new MemoryTree();
  readonly #tpm: TpmSocket;
  readonly #host: TpmHost;
  readonly #http: Http;
  /** The host's kernel log (shared by the agents of one TPM), or null: `kernel: null`. */
  readonly #kernel: SimKernel | null;
  /** Ids of some receipts pushed, for verdict reads. */
  readonly ids: string[] = [];
  #note: { size: number; text: string } | null = null;
  /** Time spent per cycle step (ms, summed over this thread's agents): where a cycle waits. */
  readonly #steps: Record<string, number>;

  constructor(o: {
    name: string;
    token: string;
    tpm: TpmSocket;
    host: TpmHost;
    http: Http;
    steps: Record<string, number>;
    kernel: SimKernel | null;
  }) {
    this.#kernel = o.kernel;
    this.#steps = o.steps;
    this.name = o.name;
    this.token = o.token;
    this.#key = generateAgentKey(o.name);
    this.#tpm = o.tpm;
    this.#host = o.host;
    this.#http = o.http;
  }

  async #post<T>(path: string, body: unknown): Promise<T> {
    const r = await this.#http.request('POST', path, this.token, JSON.stringify(body));
    if (r.status !== 200) throw new Error(`${path} answered ${r.status}: ${r.body.slice(0, 300)}`);
    return JSON.parse(r.body) as T;
  }

  /** Enrols the receipt key, the EK and AK (activated on the TPM) and the checkpoint key. */
  async enrol(): Promise<void> {
    const k = this.#key;
    await this.#post('/v1/agents/enroll', {
      agent: this.name,
      key: toBase64Url(k.publicKey),
      proof: toBase64Url(k.proof),
    });
    const h = this.#host;
    const e = await this.#post<{ challenge: string }>('/v1/attest/enroll', {
      agent: this.name,
      ekPublic: toBase64Url(h.ekPublic),
      ekCertificate: toBase64Url(h.ekCertificate),
      akPublic: toBase64Url(h.akPublic),
      pcr: APP_PCR,
    });
    const secret = await this.#tpm.activate(h.akHandle, h.ekHandle, fromBase64Url(e.challenge));
    await this.#post('/v1/attest/activate', { agent: this.name, secret: toBase64Url(secret) });
    const n = await this.#post<NonceAnswer>('/v1/attest/nonce', { agent: this.name });
    const c = await this.#tpm.certify(
      h.ckey.handle,
      h.ckey.auth,
      h.akHandle,
      checkpointKeyQualifying(fromHex(n.nonce), this.name, k.keyId),
    );
    await this.#post('/v1/attest/checkpoint-key', {
      agent: this.name,
      nonce: n.nonce,
      keyPublic: toBase64Url(h.ckey.public),
      certifyInfo: toBase64Url(c.attest),
      signature: toBase64Url(c.signature),
      receiptKeyId: k.keyId,
    });
  }

  /** `n` new receipts, signed as the agent signs them, appended to the log. */
  #receipts(n: number): SignedReceipt[] {
    const out: SignedReceipt[] = [];
    const now = Date.now() * 1000;
    for (let i = 0; i < n; i++) {
      const seq = this.#tree.size;
      const body: ReceiptBody = {
        v: 2,
        type: 'tmb.receipt',
        agent: this.name,
        key: this.#key.keyId,
        seq,
        ...chatFields(seq, now),
        served: { weights: null, engine: null },
      };
      const bytes = encodeReceiptBody(body);
      out.push(
        toSignedReceipt(
          bytes,
          new Uint8Array(sign(null, receiptSigningMessage(bytes), this.#key.privateKey)),
        ),
      );
      this.#tree.push(leafHash(bytes));
      if (seq % 16 === 0) this.ids.push(body.id);
    }
    return out;
  }

  /** The checkpoint of the current log, signed by the receipt key and by the TPM's checkpoint key. */
  async #checkpoint(): Promise<string> {
    const size = this.#tree.size;
    if (this.#note?.size === size) return this.#note.text;
    const origin = logOrigin(this.name);
    const { ckey, ckey: c } = this.#host;
    const tpmSigner = ecdsaNoteSigner(origin, ckey.spki, async (text) => {
      return this.#tpm.sign(c.handle, c.auth, new Uint8Array(createHash('sha256').update(text).digest()));
    });
    const text = await signCheckpoint({ origin, size, root: this.#tree.root(size), extensions: [] }, [
      checkpointSigner(origin, this.#key),
      tpmSigner,
    ]);
    this.#note = { size, text };
    return text;
  }

  /** Signs `n` new receipts and pushes them in one POST /v1/receipts (no quote follows). */
  async push(n: number): Promise<{ ok: true } | { ok: false; status: number; body: string }> {
    const batch = this.#receipts(n);
    const r = await this.#http.request(
      'POST',
      '/v1/receipts',
      this.token,
      JSON.stringify({ agent: this.name, receipts: batch }),
    );
    return r.status === 200 ? { ok: true } : { ok: false, status: r.status, body: r.body.slice(0, 400) };
  }

  /** The evidence's `kernel` and `boot` members for nonce answer `n` (read after the quote). */
  #logs(n: NonceAnswer): {
    members: { kernel: { from: number; entries: string } | null; boot: { log: string } | null };
    entries: number;
  } {
    const k = this.#kernel;
    const boot = this.#host.boot;
    if (k === null || boot === null) return { members: { kernel: null, boot: null }, entries: 0 };
    const want = n.kernelFrom;
    // A first quote of this boot (no resetCount yet) sends the whole log; else from kernelFrom.
    const from =
      n.resetCount != null &&
      typeof want === 'number' &&
      Number.isInteger(want) &&
      want >= 0 &&
      want <= k.count
        ? want
        : 0;
    const count = k.count;
    return {
      members: {
        kernel: { from, entries: toBase64Url(k.chunk(from)) },
        boot: n.bootLog === true || n.resetCount == null ? { log: toBase64Url(boot.bootLog) } : null,
      },
      entries: count - from,
    };
  }

  /** One cycle: push `receipts` new receipts (if any), then quote the checkpoint and post the evidence. */
  async cycle(receipts: number): Promise<CycleOutcome> {
    let t = performance.now();
    const step = (name: string) => {
      const now = performance.now();
      this.#steps[name] = (this.#steps[name] ?? 0) + (now - t);
      t = now;
    };
    if (receipts > 0) {
      const r = await this.push(receipts);
      if (!r.ok) return r;
      step('receipts');
    }
    const note = await this.#checkpoint();
    step('checkpoint');
    const nr = await this.#http.request(
      'POST',
      '/v1/attest/nonce',
      this.token,
      JSON.stringify({ agent: this.name }),
    );
    if (nr.status !== 200) return { ok: false, status: nr.status, body: nr.body.slice(0, 400) };
    const n = JSON.parse(nr.body) as NonceAnswer;
    step('nonce');
    const size = this.#note!.size;
    const qualifying = quoteQualifyingData(fromHex(n.nonce), note, { telemetryTool: null, upstream: null });
    // PCR 10 as of every extend queued before this quote (the socket keeps call order).
    const pcr10 = this.#kernel?.pcr10;
    const q = await this.#tpm.quote(this.#host.akHandle, qualifying, QUOTE_PCRS);
    step('quote');
    const pcrs = pcr10 === undefined ? this.#host.pcrsFile : withPcr10(this.#host.pcrsFile, pcr10);
    const consistency =
      n.checkpointSize !== null && n.checkpointSize <= size
        ? encodeConsistencyProof(consistencyProof(this.#tree, n.checkpointSize, size))
        : null;
    const logs = this.#logs(n);
    const ev = await this.#http.request(
      'POST',
      '/v1/attest/evidence',
      this.token,
      JSON.stringify({
        agent: this.name,
        nonce: n.nonce,
        checkpoint: note,
        quote: {
          attest: toBase64Url(q.attest),
          signature: toBase64Url(q.signature),
          pcrs: toBase64Url(pcrs),
        },
        // PCR 15 is never extended on the bench's TPMs: the agent's own log is empty.
        log: { from: n.logFrom, entries: '' },
        consistency,
        ...logs.members,
        telemetryTool: null,
        upstream: null,
      }),
    );
    step('evidence');
    if (ev.status !== 200) return { ok: false, status: ev.status, body: ev.body.slice(0, 400) };
    return { ok: true, receipts, kernelEntries: logs.entries };
  }
}
