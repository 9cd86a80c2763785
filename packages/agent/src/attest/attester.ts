import { fromHex, toBase64Url } from '@tmb/core';
import { quoteQualifyingData } from '@tmb/core/host';
import { encodeConsistencyProof, type NoteSigner } from '@tmb/core/log';
import { parseAttest } from '@tmb/core/tpm';
import type { LogFeeder } from '../log/feeder.ts';
import type { ReceiptLog, StoredCheckpoint } from '../log/tree.ts';
import type { UpstreamWatch } from '../upstream/index.ts';
import { type AttestClient, brokenRun, checkpointRunOf, kernelAsk, type NonceAnswer } from './client.ts';
import type { AttestHost } from './host.ts';
import { type KernelEvidence, quotePcrs } from './kernel.ts';
import { TpmStanding } from './standing.ts';
import { type UpstreamEvidence, upstreamEvidence } from './upstream.ts';

/** When to checkpoint (and, with a TPM, quote): see AgentOptions.checkpoint*. */
export interface AttesterSchedule {
  intervalMs: number;
  everyReceipts: number;
  minIntervalMs: number;
}

/** A quoted checkpoint the verifier accepted. */
export interface QuotedCheckpoint {
  /** Its log run and the seq of the run's leaf 0: it covers seqs base .. base + size - 1. */
  run: number;
  base: number;
  size: number;
  note: string;
  /** Date.now() when the verifier's acceptance arrived. */
  at: number;
  /** Milliseconds of the cycle, from the checkpoint's signing: push, nonce, quote, evidence. */
  ms: { push: number; upstream: number; nonce: number; quote: number; evidence: number };
}

type Log = (event: string, detail: Record<string, unknown>) => void;

/**
 * Signs checkpoints of the receipt log on a schedule and, when the host has a TPM and a
 * verifier is configured, enrols the AK (credential activation) and has each checkpoint
 * quoted with the verifier's nonce (docs/evidence.md): qualifying data = quoteQualifyingData
 * (core host) over the nonce, the checkpoint note and the telemetryTool and upstream members,
 * over sha256 PCRs 0-10 and the application PCR.
 * Evidence (version 2) is posted after every receipt below the checkpoint's size was pushed,
 * with the kernel's IMA log and the boot log read after the quote (KernelEvidence). A host
 * change (kernel log or measurement log grown) is quoted without waiting for traffic (start()).
 * After activation, and before the first checkpoint is signed, it creates the TPM-held checkpoint
 * key and has the AK certify it (ckey.ts); from then on checkpoints are co-signed by that key.
 * A quote of another TPM boot than this start's (a TPM reset under the running agent) is not
 * posted: the measurement log, the receipt log run and the checkpoint key start over in the new
 * boot first (TpmStanding.newBoot), and the cycle quotes again.
 */
export class Attester {
  readonly #log: ReceiptLog;
  readonly #feeder: LogFeeder;
  readonly #origin: string;
  readonly #signer: NoteSigner & { receiptKeyId?: string };
  /** The AK, checkpoint key and TPM boot of this start (with a TPM and a verifier). */
  readonly #standing: TpmStanding | undefined;
  readonly #extensions: () => readonly string[];
  readonly #host: AttestHost | undefined;
  readonly #client: AttestClient | undefined;
  readonly #agent: string;
  readonly #push: (end: number) => Promise<void>;
  readonly #s: AttesterSchedule;
  readonly #emit: Log;
  readonly #listeners: ((q: QuotedCheckpoint) => void)[] = [];
  #enrolling: Promise<void> | undefined;
  #timer: NodeJS.Timeout | undefined;
  #due = 0;
  #running: Promise<void> | undefined;
  #lastStart = 0;
  #sinceLast = 0;
  #closed = false;
  #failures = 0;
  readonly #kernel: KernelEvidence | undefined;
  readonly #telemetryTool: string | null;
  readonly #pollMs: number;
  readonly #upstream: UpstreamWatch | undefined;
  #upstreamStart: Promise<unknown> | undefined;
  #poll: NodeJS.Timeout | undefined;
  #polling = false;
  /** The host changed (kernel log or measurement log grew) since the state the last quote covered. */
  #hostDirty = false;
  /** Kernel measurements and measurement-log entries counted before the last accepted quote: it covers at least these. */
  #covered = { kernel: -1 as number | null, app: -1 };
  /** The state the quote in flight covers, while one is. */
  #inFlight: { kernel: number | null; app: number } | undefined;
  /** The latest checkpoint the verifier accepted a quote over. */
  quoted: QuotedCheckpoint | undefined;

  constructor(o: {
    log: ReceiptLog;
    feeder: LogFeeder;
    origin: string;
    /**
     * The in-memory (Ed25519) checkpoint signer; its `receiptKeyId` (log/note.ts) is what the
     * TPM checkpoint key's certification names. With a TPM, checkpoints are co-signed by the TPM key.
     */
    signer: NoteSigner & { receiptKeyId?: string };
    /** Extension lines of each checkpoint, read as it is signed (the telemetry head). Default none. */
    extensions?: () => readonly string[];
    agent: string;
    host?: AttestHost;
    client?: AttestClient;
    /**
     * Resolves once every receipt with seq below `end` (the checkpoint's base + size, docs/checkpoint.md
     * "The run line") and the telemetry the checkpoint names are pushed to the verifier.
     */
    push: (end: number) => Promise<void>;
    schedule: AttesterSchedule;
    emit: Log;
    /** The kernel's IMA log and the boot log (evidence `kernel`, `boot`). Left out: both null, and the verifier fails host.integrity (KERNEL_LOG_ABSENT). */
    kernel?: KernelEvidence;
    /** The telemetry tool's resolved path (evidence `telemetryTool`). Default null: no telemetry. */
    telemetryTool?: string | null;
    /** How often the kernel's measurement count and the measurement log are checked for growth, ms. Default 200. */
    pollMs?: number;
    /** Which process serves the upstream (evidence `upstream`; docs/upstream.md). Left out: `upstream` null. */
    upstream?: UpstreamWatch;
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
    this.#kernel = o.kernel;
    this.#telemetryTool = o.telemetryTool ?? null;
    this.#pollMs = o.pollMs ?? 200;
    this.#upstream = o.upstream;
    if (o.host !== undefined && o.client !== undefined)
      this.#standing = new TpmStanding(o.host, o.client, o.feeder, {
        agent: o.agent,
        origin: o.origin,
        receiptKeyId: o.signer.receiptKeyId,
        emit: o.emit,
      });
  }

  /** Calls `listener` each time the verifier accepts a quoted checkpoint. */
  onQuoted(listener: (q: QuotedCheckpoint) => void): void {
    this.#listeners.push(listener);
  }

  /**
   * Starts enrolment (when there is a TPM and a verifier) and the first checkpoint, and, with
   * both, polls the host every pollMs: when the kernel's log or the measurement log grew past
   * what the last quote covered, a cycle is brought forward (to checkpointMinIntervalMs after the
   * last), whether or not a receipt came: a change is quoted within pollMs + minIntervalMs + one
   * cycle (under 2 s with the defaults) even with no traffic.
   */
  start(): void {
    this.#schedule(0);
    if (this.#host === undefined || this.#client === undefined) return;
    // The full /proc walk, once; each cycle re-checks the known holders (#upstreamNow).
    this.#upstreamStart = this.#upstream?.identify().catch(() => {});
    this.#poll = setInterval(() => void this.#pollHost(), this.#pollMs);
    this.#poll.unref();
  }

  async #pollHost(): Promise<void> {
    if (this.#polling || this.quoted === undefined) return; // the first quote is on its way anyway
    this.#polling = true;
    try {
      const now = await this.#hostState();
      const covered = this.#inFlight ?? this.#covered;
      const kernelGrew = now.kernel !== null && now.kernel !== covered.kernel;
      if ((kernelGrew || now.app !== covered.app) && !this.#closed) {
        this.#hostDirty = true;
        this.#schedule(Math.max(0, this.#s.minIntervalMs - (Date.now() - this.#lastStart)));
      }
    } finally {
      this.#polling = false;
    }
  }

  async #hostState(): Promise<{ kernel: number | null; app: number }> {
    const kernel = this.#kernel === undefined ? null : await this.#kernel.measured();
    return { kernel, app: this.#host?.entryCount() ?? 0 };
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
    clearInterval(this.#poll);
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
    const dirty = this.#hostDirty;
    this.#sinceLast = 0;
    this.#hostDirty = false;
    this.#running = this.#cycle(waiting > 0 || dirty || this.quoted === undefined).then(
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
      this.#inFlight = undefined;
      if (this.#closed) return;
      if (this.#failures > 0) this.#schedule(Math.min(5_000, 100 * 2 ** Math.min(this.#failures, 6)));
      else if (this.#hostDirty)
        this.#schedule(Math.max(0, this.#s.minIntervalMs - (Date.now() - this.#lastStart)));
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

  async #cycle(changed: boolean, again = false): Promise<void> {
    this.#feeder.flush();
    // After a failed cycle the checkpoint is signed (its telemetry line read) and quoted again.
    // A host change with no new receipt signs a checkpoint of the same size (the store keeps an
    // identical note once) and quotes it with a fresh nonce.
    const last = this.#log.latestCheckpoint();
    const same = last !== null && last.run === this.#log.run.run && last.size === this.#log.size;
    if (!changed && this.#failures === 0 && same) return;
    // With a TPM, enrolment and the checkpoint key come first: every quoted checkpoint is then
    // signed by the TPM-held key too (docs/evidence.md, "The checkpoint key").
    const standing = this.#standing;
    if (standing !== undefined && !standing.activated) {
      this.#enrolling ??= standing.enrol().finally(() => {
        this.#enrolling = undefined;
      });
      await this.#enrolling;
      // Receipts that came while enrolling go into the checkpoint signed next, so they need no
      // cycle of their own: append them to the log first. (Counted by wake() but still queued
      // in the feeder, a receipt stored in the same turn as enrolment ended was left out of
      // that checkpoint with its count reset, and nothing brought another cycle: never covered.)
      this.#feeder.flush();
      this.#sinceLast = 0;
    }
    const tpmKey = standing?.key ?? null;
    const signers = tpmKey === null ? [this.#signer] : [this.#signer, tpmKey.signer];
    const cp = await this.#log.checkpoint(this.#origin, signers, this.#extensions);
    if (this.#host === undefined || this.#client === undefined || standing === undefined) return;
    const t0 = performance.now();
    await this.#push(cp.base + cp.size);
    try {
      const reset = await this.#quote(cp, this.#host, this.#client, performance.now() - t0);
      if (reset !== null) {
        // Nothing was posted: that quote is of a new boot, the checkpoint of the old one.
        await standing.newBoot(reset);
        this.#covered = { kernel: -1, app: -1 };
        if (!again) return this.#cycle(true, true);
        throw new Error(`the TPM was reset again (resetCount ${reset}) while handling a reset`);
      }
    } catch (err) {
      // The verifier cannot follow this run (a receipt of it refused or never received): no
      // checkpoint of it can pass again, so the next run starts past it and the retry quotes
      // that (issue 10, "no stuck states"). An answer about an older run is stale.
      const broken = brokenRun(err);
      if (broken !== undefined && broken.run === cp.run && cp.run === this.#log.run.run)
        this.#feeder.breakRun(
          `the verifier cannot follow run ${broken.run} from seq ${broken.seq}: ${broken.detail}`,
        );
      throw err;
    }
  }

  /**
   * The upstream now (UpstreamWatch.check: the socket tables and the known holders, a full walk
   * only on a change), as evidence; null without a watch. Once per cycle, never per request: it
   * blocks the event loop a few ms (docs/upstream.md, "Cost").
   */
  async #upstreamNow(): Promise<UpstreamEvidence | null> {
    const w = this.#upstream;
    if (w === undefined) return null;
    await this.#upstreamStart;
    try {
      return upstreamEvidence(await w.check());
    } catch (err) {
      return { kind: 'none', reason: `identification failed: ${String(err)}`.slice(0, 1024), processes: [] };
    }
  }

  /**
   * Quotes `cp` with a fresh nonce and posts the evidence; returns null, or, without posting,
   * the quote's resetCount when it is not the boot this start's log and key belong to (#newBoot).
   */
  async #quote(
    cp: StoredCheckpoint,
    host: AttestHost,
    client: AttestClient,
    pushMs: number,
  ): Promise<number | null> {
    const tu = performance.now();
    const upstream = await this.#upstreamNow();
    const t0 = performance.now();
    const n = await client.post<NonceAnswer>('/v1/attest/nonce', { agent: this.#agent });
    const t1 = performance.now();
    const qualifying = quoteQualifyingData(fromHex(n.nonce), cp.note, {
      telemetryTool: this.#telemetryTool,
      upstream,
    });
    const state = await this.#hostState();
    this.#inFlight = state; // cleared when the cycle ends
    const q = await host.driver.quote(quotePcrs(host.pcr), qualifying);
    const t2 = performance.now();
    // The logs are read after the quote: entries logged in between wait for the next quote.
    const { resetCount } = parseAttest(q.attest).clockInfo;
    if (this.#standing?.isNewBoot(resetCount)) return resetCount;
    const sameBoot = n.resetCount === resetCount;
    const count = host.entryCount();
    const from = sameBoot && n.logFrom <= count ? n.logFrom : 0;
    // Only within one run: a new run's first checkpoint is never proved against the run before.
    const consistency =
      n.checkpointSize !== null && n.checkpointSize <= cp.size && checkpointRunOf(n) === cp.run
        ? encodeConsistencyProof(this.#log.consistencyProof(n.checkpointSize, cp.size, cp.run))
        : null;
    const members =
      this.#kernel === undefined
        ? { kernel: null, boot: null, read: null }
        : await this.#kernel.members(kernelAsk(n), sameBoot);
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
      kernel: members.kernel,
      boot: members.boot,
      telemetryTool: this.#telemetryTool,
      upstream,
    });
    // Entries counted but not yet readable whole (a torn tail) count as not covered: the poll
    // brings the next quote once they are.
    const kernel =
      state.kernel === null || members.read === null ? state.kernel : Math.min(state.kernel, members.read);
    this.#covered = { kernel, app: state.app };
    const ms = {
      push: Math.round(pushMs),
      upstream: Math.round((t0 - tu) * 1000) / 1000,
      nonce: Math.round(t1 - t0),
      quote: Math.round(t2 - t1),
      evidence: Math.round(performance.now() - t2),
    };
    this.quoted = { run: cp.run, base: cp.base, size: cp.size, note: cp.note, at: Date.now(), ms };
    for (const l of this.#listeners) l(this.quoted);
    return null;
  }
}
