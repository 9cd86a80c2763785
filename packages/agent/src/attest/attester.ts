import { fromBase64Url, fromHex, sha256, toBase64Url, utf8 } from '@tmb/core';
import { encodeConsistencyProof, type NoteSigner } from '@tmb/core/log';
import { parseAttest } from '@tmb/core/tpm';
import type { ReceiptLog, StoredCheckpoint } from '../log/store.ts';
import type { AttestClient, NonceAnswer } from './client.ts';
import type { LogFeeder } from './feeder.ts';
import type { AttestHost } from './host.ts';

/** When to checkpoint (and, with a TPM, quote): see AgentOptions.checkpoint*. */
export interface AttesterSchedule {
  intervalMs: number;
  everyReceipts: number;
  minIntervalMs: number;
}

/** A quoted checkpoint the verifier accepted. */
export interface QuotedCheckpoint {
  size: number;
  note: string;
  /** Date.now() when the verifier's acceptance arrived. */
  at: number;
  /** Milliseconds of the cycle, from the checkpoint's signing: push, nonce, quote, evidence. */
  ms: { push: number; nonce: number; quote: number; evidence: number };
}

type Log = (event: string, detail: Record<string, unknown>) => void;

/**
 * Signs checkpoints of the receipt log on a schedule and, when the host has a TPM and a
 * verifier is configured, enrols the AK (credential activation) and has each checkpoint
 * quoted with the verifier's nonce (docs/evidence.md): qualifying data =
 * SHA-256(nonce ‖ checkpoint note bytes). Evidence is posted after every receipt below the
 * checkpoint's size was pushed.
 */
export class Attester {
  readonly #log: ReceiptLog;
  readonly #feeder: LogFeeder;
  readonly #origin: string;
  readonly #signer: NoteSigner;
  readonly #extensions: () => readonly string[];
  readonly #host: AttestHost | undefined;
  readonly #client: AttestClient | undefined;
  readonly #agent: string;
  readonly #push: (size: number) => Promise<void>;
  readonly #s: AttesterSchedule;
  readonly #emit: Log;
  readonly #listeners: ((q: QuotedCheckpoint) => void)[] = [];
  #activated = false;
  #enrolling: Promise<void> | undefined;
  #timer: NodeJS.Timeout | undefined;
  #due = 0;
  #running: Promise<void> | undefined;
  #lastStart = 0;
  #sinceLast = 0;
  #closed = false;
  #failures = 0;
  /** The latest checkpoint the verifier accepted a quote over. */
  quoted: QuotedCheckpoint | undefined;

  constructor(o: {
    log: ReceiptLog;
    feeder: LogFeeder;
    origin: string;
    signer: NoteSigner;
    /** Extension lines of each checkpoint, read as it is signed (the telemetry head). Default none. */
    extensions?: () => readonly string[];
    agent: string;
    host?: AttestHost;
    client?: AttestClient;
    /** Resolves once every receipt below `size` (and the telemetry the checkpoint names) is pushed to the verifier. */
    push: (size: number) => Promise<void>;
    schedule: AttesterSchedule;
    emit: Log;
  }) {
    this.#log = o.log;
    this.#feeder = o.feeder;
    this.#origin = o.origin;
    this.#signer = o.signer;
    this.#extensions = o.extensions ?? (() => []);
    this.#host = o.host;
    this.#client = o.client;
    this.#agent = o.agent;
    this.#push = o.push;
    this.#s = o.schedule;
    this.#emit = o.emit;
  }

  /** Calls `listener` each time the verifier accepts a quoted checkpoint. */
  onQuoted(listener: (q: QuotedCheckpoint) => void): void {
    this.#listeners.push(listener);
  }

  /** Starts enrolment (when there is a TPM and a verifier) and the first checkpoint. */
  start(): void {
    this.#schedule(0);
  }

  /** Called for every new receipt: brings the next checkpoint forward once `everyReceipts` are waiting. */
  wake(): void {
    this.#sinceLast++;
    const since = Date.now() - this.#lastStart;
    if (this.#sinceLast >= this.#s.everyReceipts) this.#schedule(Math.max(0, this.#s.minIntervalMs - since));
    else this.#schedule(Math.max(0, this.#s.intervalMs - since));
  }

  /** Runs one cycle now (after the one in flight), e.g. before close or in tests. */
  async cycle(): Promise<void> {
    if (this.#running) await this.#running.catch(() => {});
    await this.#run();
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#running?.catch(() => {});
  }

  #schedule(delay: number): void {
    if (this.#closed) return;
    const due = Date.now() + delay;
    if (this.#timer !== undefined) {
      if (due >= this.#due) return;
      clearTimeout(this.#timer);
    }
    this.#due = due;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      if (this.#running) return; // the running cycle reschedules when it ends
      void this.#run().catch(() => {});
    }, delay);
  }

  #run(): Promise<void> {
    this.#lastStart = Date.now();
    const waiting = this.#sinceLast;
    this.#sinceLast = 0;
    this.#running = this.#cycle(waiting > 0 || this.quoted === undefined).then(
      () => {
        this.#failures = 0;
      },
      (err: unknown) => {
        this.#failures++;
        if (this.#failures === 1 || this.#failures % 20 === 0)
          this.#emit('attest_failed', { error: String(err), failures: this.#failures });
        throw err;
      },
    );
    const done = () => {
      this.#running = undefined;
      if (this.#closed) return;
      if (this.#failures > 0) this.#schedule(Math.min(5_000, 100 * 2 ** Math.min(this.#failures, 6)));
      else if (this.#sinceLast > 0) {
        // The period runs from the start of the last cycle: a slow cycle is not followed by a full interval.
        const since = Date.now() - this.#lastStart;
        const every = this.#sinceLast >= this.#s.everyReceipts ? this.#s.minIntervalMs : this.#s.intervalMs;
        this.#schedule(Math.max(0, every - since, this.#s.minIntervalMs - since));
      }
    };
    this.#running.then(done, done);
    return this.#running;
  }

  async #cycle(changed: boolean): Promise<void> {
    this.#feeder.flush();
    // After a failed cycle the checkpoint is signed (its telemetry line read) and quoted again.
    if (!changed && this.#failures === 0 && this.#log.latestCheckpoint()?.size === this.#log.size) return;
    const cp = await this.#log.checkpoint(this.#origin, this.#signer, this.#extensions);
    if (this.#host === undefined || this.#client === undefined) return;
    if (!this.#activated) {
      this.#enrolling ??= this.#enrol().finally(() => {
        this.#enrolling = undefined;
      });
      await this.#enrolling;
    }
    const t0 = performance.now();
    await this.#push(cp.size);
    await this.#quote(cp, this.#host, this.#client, performance.now() - t0);
  }

  /** AK enrolment: EK public, EK certificate, AK public area; then ActivateCredential. */
  async #enrol(): Promise<void> {
    const host = this.#host!;
    const client = this.#client!;
    const { challenge } = await client.post<{ challenge: string }>('/v1/attest/enroll', {
      agent: this.#agent,
      ekPublic: toBase64Url(host.ek.public),
      ekCertificate: host.ek.certificate === null ? null : toBase64Url(host.ek.certificate),
      akPublic: toBase64Url(host.ak.public),
      pcr: host.pcr,
    });
    const secret = await host.driver.activateCredential(fromBase64Url(challenge));
    await client.post('/v1/attest/activate', { agent: this.#agent, secret: toBase64Url(secret) });
    this.#activated = true;
    this.#emit('ak_activated', { pcr: host.pcr });
  }

  async #quote(cp: StoredCheckpoint, host: AttestHost, client: AttestClient, pushMs: number): Promise<void> {
    const t0 = performance.now();
    const n = await client.post<NonceAnswer>('/v1/attest/nonce', { agent: this.#agent });
    const t1 = performance.now();
    const qualifying = sha256(fromHex(n.nonce), utf8(cp.note));
    const q = await host.driver.quote([host.pcr], qualifying);
    const t2 = performance.now();
    // The log is read after the quote: entries logged in between wait for the next quote.
    const { resetCount } = parseAttest(q.attest).clockInfo;
    const count = host.entryCount();
    const from = n.resetCount === resetCount && n.logFrom <= count ? n.logFrom : 0;
    const consistency =
      n.checkpointSize !== null && n.checkpointSize <= cp.size
        ? encodeConsistencyProof(this.#log.consistencyProof(n.checkpointSize, cp.size))
        : null;
    await client.post('/v1/attest/evidence', {
      agent: this.#agent,
      nonce: n.nonce,
      checkpoint: cp.note,
      quote: {
        attest: toBase64Url(q.attest),
        signature: toBase64Url(q.signature),
        pcrs: toBase64Url(q.pcrsFile),
      },
      log: { from, entries: toBase64Url(host.entriesFrom(from)) },
      consistency,
    });
    const ms = {
      push: Math.round(pushMs),
      nonce: Math.round(t1 - t0),
      quote: Math.round(t2 - t1),
      evidence: Math.round(performance.now() - t2),
    };
    this.quoted = { size: cp.size, note: cp.note, at: Date.now(), ms };
    for (const l of this.#listeners) l(this.quoted);
  }
}
