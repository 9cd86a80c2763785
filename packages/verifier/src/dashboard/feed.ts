// The dashboard's live feed of verdicts (docs/dashboard.md, "Live verdicts"): every receipt this
// process stores is offered here; while someone watches, a bounded number of them a second get
// their verdict composed (one at a time) and sent to the streams that may read their agent. In
// process: with several verifier processes, each streams the receipts it stored itself.

import type { Level } from '@tmb/core';

/** One verdict as the dashboard shows it: the verdict's level and failing checks, in short. */
export interface FeedVerdict {
  receiptId: string;
  agent: string;
  requestId: string | null;
  level: Level;
  ok: boolean;
  /** The checks that failed: name, code and detail, as the verdict has them. */
  failing: { name: string; code: string | null; detail: string }[];
  /** Unix ms the verifier stored the receipt. */
  receivedAt: number;
  /** Some evidence was still due when this was composed (a check `pending:`, or no telemetry
   * samples after the answer yet): the feed composes it again until it settles or `settleMs` passed. */
  pending: boolean;
  /** Unix ms the exchange ended (the receipt's time.end), null when the body does not decode. */
  at: number | null;
  model: string | null;
  path: string | null;
  tokens: number | null;
  /** The request's telemetry features and the profile they were held against, when there are some. */
  telemetry: {
    energyPerToken: number;
    meanPowerW: number;
    utilization: number;
    profile: string | null;
    check: string;
  } | null;
}

/** What a stream is sent. */
export type FeedEvent =
  | { type: 'verdict'; verdict: FeedVerdict }
  | { type: 'dropped'; count: number; reason: string }
  | { type: 'heartbeat'; at: number };

/** A stream's end of the feed: which agents it may read, and how to send it an event. */
export interface Subscriber {
  accepts(agent: string): boolean;
  send(event: FeedEvent): void;
}

/** What the feed is built with. */
export interface FeedOptions {
  /** A stored receipt's verdict in short; undefined when the receipt is not there (any more). */
  summarise: (id: string) => Promise<FeedVerdict | undefined>;
  now: () => number;
  /** Verdicts composed per second at most while watched. Default 50: a busy verifier spends a
   * bounded share of a core on the dashboard, and none while nobody watches. */
  perSecond?: number;
  /** Receipts waiting for their verdict at most; past it the oldest are dropped. Default 256. */
  maxPending?: number;
  /** Recent verdicts kept per agent (hosts' last verdicts, energy per token). Default 120. */
  recentPerAgent?: number;
  /** Agents whose recent verdicts are kept; past it the least recently heard is forgotten. Default 10,000. */
  maxAgents?: number;
  /** How long a read of hosts or telemetry keeps the feed on with no stream open. Default 60 s. */
  watchMs?: number;
  /** How long a verdict with evidence still due is held and composed again before it is sent
   * as it stands. Default 30 s (the demo client's wait for a quote). */
  settleMs?: number;
  /** How often held verdicts are composed again. Default 1 s. */
  retryMs?: number;
  /** Verdicts held at most; past it the oldest is sent as it stands. Default 64. */
  maxHeld?: number;
  /** Called when a summary fails (a store error): the receipt is skipped. */
  onError?: (err: unknown) => void;
}

/**
 * The live feed. `offer` is O(1) and does nothing while nobody watches (no stream open and no
 * dashboard read in the last `watchMs`), so the verifier's receipt path pays nothing for it then.
 */
export class VerdictFeed {
  readonly #o: Required<Omit<FeedOptions, 'onError'>> & Pick<FeedOptions, 'onError'>;
  readonly #subs = new Set<Subscriber>();
  readonly #recent = new Map<string, FeedVerdict[]>();
  #pending: string[] = [];
  /** Receipts whose verdict had evidence due: id -> when first composed (Unix ms). */
  readonly #held = new Map<string, number>();
  #retry: ReturnType<typeof setTimeout> | undefined;
  /** Receipts skipped since streams were last told, by reason; and the timer that tells them. */
  readonly #skipped = new Map<string, number>();
  #flush: ReturnType<typeof setTimeout> | undefined;
  #watchedUntil = 0;
  #draining = false;
  #closed = false;
  #window = { start: 0, taken: 0 };

  constructor(o: FeedOptions) {
    this.#o = {
      perSecond: 50,
      maxPending: 256,
      recentPerAgent: 120,
      maxAgents: 10_000,
      watchMs: 60_000,
      settleMs: 30_000,
      retryMs: 1000,
      maxHeld: 64,
      ...o,
    };
  }

  /**
   * Listens for every receipt this process stores (Waiters.onStored, told by the receipt intake,
   * receipt/push.ts); receipts other processes stored are theirs to stream.
   */
  tap(waiters: { onStored(fn: (id: string) => void): void }): void {
    waiters.onStored((id) => this.offer(id));
  }

  /** Whether anyone watches: a stream is open, or hosts or telemetry were read lately. */
  get active(): boolean {
    return !this.#closed && (this.#subs.size > 0 || this.#o.now() < this.#watchedUntil);
  }

  /** Number of open streams. */
  get streams(): number {
    return this.#subs.size;
  }

  /** Keeps the feed on for `watchMs` (a dashboard read hosts or telemetry). */
  touch(): void {
    this.#watchedUntil = this.#o.now() + this.#o.watchMs;
  }

  /** A stored receipt id: queued for its verdict while watched, within the rate; else dropped. */
  offer(id: string): void {
    if (!this.active) return;
    if (!this.#take()) {
      this.#dropped(1, `more than ${this.#o.perSecond} receipts a second: not every verdict is shown`);
      return;
    }
    this.#pending.push(id);
    if (this.#pending.length > this.#o.maxPending) {
      this.#pending.shift();
      this.#dropped(1, 'verdicts could not be composed as fast as receipts arrived');
    }
    if (!this.#draining) void this.#drain();
  }

  /** Adds a stream; returns the function that removes it. */
  subscribe(s: Subscriber): () => void {
    this.#subs.add(s);
    return () => {
      this.#subs.delete(s);
      if (this.#subs.size === 0) this.touch(); // hosts' last verdicts stay current a while
    };
  }

  /** The agent's recent verdicts this process composed, oldest first. */
  recent(agent: string): readonly FeedVerdict[] {
    return this.#recent.get(agent) ?? [];
  }

  /** The last `limit` verdicts of the agents `accepts` allows, oldest first (a new stream's backlog). */
  backlog(accepts: (agent: string) => boolean, limit: number): FeedVerdict[] {
    const all: FeedVerdict[] = [];
    for (const [agent, list] of this.#recent) if (accepts(agent)) all.push(...list.slice(-limit));
    return all.sort((a, b) => a.receivedAt - b.receivedAt).slice(-limit);
  }

  /** Stops composing; streams are ended by their routes. */
  close(): void {
    this.#closed = true;
    this.#pending = [];
    this.#held.clear();
    clearTimeout(this.#retry);
    clearTimeout(this.#flush);
  }

  #take(): boolean {
    const now = this.#o.now();
    if (now - this.#window.start >= 1000) this.#window = { start: now, taken: 0 };
    if (this.#window.taken >= this.#o.perSecond) return false;
    this.#window.taken++;
    return true;
  }

  /** Counts skipped receipts; streams hear the sum at most once a second (one line, not one per receipt). */
  #dropped(count: number, reason: string): void {
    this.#skipped.set(reason, (this.#skipped.get(reason) ?? 0) + count);
    this.#flush ??= setTimeout(() => {
      this.#flush = undefined;
      for (const [why, n] of this.#skipped)
        for (const sub of this.#subs) sub.send({ type: 'dropped', count: n, reason: why });
      this.#skipped.clear();
    }, 1000);
    this.#flush.unref?.();
  }

  async #drain(): Promise<void> {
    this.#draining = true;
    try {
      for (let id = this.#pending.shift(); id !== undefined; id = this.#pending.shift()) {
        let v: FeedVerdict | undefined;
        try {
          v = await this.#o.summarise(id);
        } catch (err) {
          this.#o.onError?.(err);
        }
        if (v === undefined || this.#closed || this.#hold(v)) continue;
        this.#held.delete(id);
        this.#remember(v);
        for (const s of this.#subs) if (s.accepts(v.agent)) s.send({ type: 'verdict', verdict: v });
      }
    } finally {
      this.#draining = false;
    }
  }

  /** Holds a verdict whose evidence is still due, to compose it again later; false: send it now. */
  #hold(v: FeedVerdict): boolean {
    if (!v.pending) return false;
    const now = this.#o.now();
    const since = this.#held.get(v.receiptId) ?? now;
    if (now - since >= this.#o.settleMs) return false;
    this.#held.set(v.receiptId, since);
    if (this.#held.size > this.#o.maxHeld) {
      // The oldest goes out as it stands: composed once more, with no deadline left.
      const [oldest] = this.#held.keys();
      this.#held.set(oldest!, now - this.#o.settleMs);
    }
    this.#retry ??= setTimeout(() => this.#again(), this.#o.retryMs);
    this.#retry.unref?.();
    return true;
  }

  /** Composes every held verdict again (they are queued behind new receipts, within maxPending). */
  #again(): void {
    this.#retry = undefined;
    if (this.#closed) return;
    for (const id of this.#held.keys()) if (!this.#pending.includes(id)) this.#pending.push(id);
    let over = 0;
    for (; this.#pending.length > this.#o.maxPending; over++) this.#held.delete(this.#pending.shift()!);
    if (over > 0) this.#dropped(over, 'verdicts could not be composed as fast as receipts arrived');
    if (!this.#draining) void this.#drain();
  }

  #remember(v: FeedVerdict): void {
    let list = this.#recent.get(v.agent);
    if (list === undefined) {
      if (this.#recent.size >= this.#o.maxAgents) this.#recent.delete(this.#recent.keys().next().value!);
      list = [];
    } else this.#recent.delete(v.agent); // re-inserted below: Map order is least recently heard first
    list.push(v);
    if (list.length > this.#o.recentPerAgent) list.shift();
    this.#recent.set(v.agent, list);
  }
}
