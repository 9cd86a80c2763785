import { readBoundedText, toBase64Url, toSignedReceipt } from '@tmb/core';
import { AgentError } from '../errors.ts';
import type { ReceiptStore } from './store.ts';

export interface PusherOptions {
  url: string;
  token: string;
  name: string;
  batch: number;
  intervalMs: number;
  timeoutMs: number;
  /** Told each push's outcome: receipts the verifier answered for, or the error (the agent's metrics). */
  onOutcome?: (pushed: number, error?: AgentError) => void;
}

const MAX_BACKOFF_MS = 5_000;
const MAX_ANSWER_BYTES = 1024 * 1024;

/**
 * Pushes committed receipts to the verifier in batches, oldest first, and marks them once the
 * verifier has answered for them. Keys are enrolled before their receipts are pushed. Failures
 * back off exponentially (100 ms to 5 s); nothing is dropped, and after a restart the unpushed
 * rows are simply still there.
 */
export class Pusher {
  readonly #store: ReceiptStore;
  readonly #o: PusherOptions;
  readonly #log: (event: string, detail: Record<string, unknown>) => void;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #failures = 0;
  #closed = false;
  /** Called after every batch the verifier answered (pushedThrough's checks). */
  readonly #afterBatch = new Set<() => void>();

  constructor(
    store: ReceiptStore,
    o: PusherOptions,
    log: (event: string, detail: Record<string, unknown>) => void,
  ) {
    this.#store = store;
    this.#o = o;
    this.#log = log;
  }

  /** Schedules a push within `intervalMs` (receipts committed since are batched together). */
  wake(): void {
    if (this.#timer !== undefined || this.#closed || this.#failures > 0) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.#run().catch(() => {});
    }, this.#o.intervalMs);
  }

  /**
   * Pushes everything pending now.
   * @throws AgentError AGENT_PUSH_FAILED or AGENT_ENROL_REJECTED when the verifier cannot take them.
   */
  async flush(): Promise<void> {
    if (this.#running) await this.#running.catch(() => {});
    await this.#run();
  }

  /**
   * Resolves once every receipt with seq < `size` has been answered for by the verifier,
   * without waiting for receipts after it (under steady load the queue never empties).
   * @throws AgentError AGENT_PUSH_FAILED when that takes longer than `timeoutMs`.
   */
  pushedThrough(size: number, timeoutMs: number): Promise<void> {
    const stmt = this.#store.db.prepare('SELECT 1 AS x FROM receipts WHERE pushed = 0 AND seq < ? LIMIT 1');
    const pending = () => stmt.get(size) !== undefined;
    if (!pending()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const check = () => {
        if (pending()) return;
        this.#afterBatch.delete(check);
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        this.#afterBatch.delete(check);
        reject(
          new AgentError('AGENT_PUSH_FAILED', `receipts below ${size} not pushed within ${timeoutMs} ms`),
        );
      }, timeoutMs);
      this.#afterBatch.add(check);
      this.wake();
    });
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #run(): Promise<void> {
    this.#running ??= this.#pushAll().then(
      () => {
        this.#running = undefined;
        this.#failures = 0;
      },
      (err: unknown) => {
        this.#running = undefined;
        this.#failures++;
        this.#o.onOutcome?.(0, err as AgentError);
        if (this.#failures === 1 || this.#failures % 20 === 0) {
          this.#log('push_failed', {
            code: (err as AgentError).code,
            error: String(err),
            failures: this.#failures,
          });
        }
        this.#retry();
        throw err;
      },
    );
    return this.#running;
  }

  #retry(): void {
    if (this.#closed) return;
    clearTimeout(this.#timer);
    const delay =
      Math.min(MAX_BACKOFF_MS, 100 * 2 ** Math.min(this.#failures, 10)) * (0.5 + Math.random() / 2);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.#run().catch(() => {});
    }, delay);
  }

  async #pushAll(): Promise<void> {
    for (const key of this.#store.unenrolledKeys()) {
      await this.#call('/v1/agents/enroll', {
        agent: this.#o.name,
        key: toBase64Url(key.publicKey),
        proof: toBase64Url(key.proof),
      });
      this.#store.markEnrolled(key.keyId);
    }
    for (;;) {
      const rows = this.#store.unpushed(this.#o.batch);
      if (rows.length === 0) return;
      const answer = (await this.#call('/v1/receipts', {
        agent: this.#o.name,
        receipts: rows.map((r) => toSignedReceipt(r.body, r.sig)),
      })) as { rejected?: { index: number; code: string }[] };
      const codes = new Map<number, string>();
      for (const r of answer.rejected ?? []) {
        const row = rows[r.index];
        if (row !== undefined) codes.set(row.seq, String(r.code).slice(0, 64));
      }
      if (codes.size > 0)
        this.#log('receipts_rejected', { count: codes.size, codes: [...new Set(codes.values())] });
      this.#store.markPushed(
        rows.map((r) => r.seq),
        codes,
      );
      this.#o.onOutcome?.(rows.length);
      for (const check of [...this.#afterBatch]) check();
    }
  }

  async #call(path: string, body: unknown): Promise<unknown> {
    let res: Response;
    try {
      res = await fetch(this.#o.url.replace(/\/$/, '') + path, {
        method: 'POST',
        headers: { authorization: `Bearer ${this.#o.token}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(this.#o.timeoutMs),
      });
    } catch (cause) {
      throw new AgentError('AGENT_PUSH_FAILED', `verifier unreachable at ${this.#o.url}`, { cause });
    }
    let text: string;
    try {
      text = await readBoundedText(res, MAX_ANSWER_BYTES);
    } catch (cause) {
      throw new AgentError('AGENT_PUSH_FAILED', `verifier answer to ${path} too large or cut`, { cause });
    }
    if (!res.ok) {
      const code = res.status === 401 || res.status === 403 ? 'AGENT_ENROL_REJECTED' : 'AGENT_PUSH_FAILED';
      throw new AgentError(code, `verifier answered ${res.status} to ${path}: ${text.slice(0, 200)}`);
    }
    try {
      return JSON.parse(text);
    } catch (cause) {
      throw new AgentError('AGENT_PUSH_FAILED', `verifier answered ${path} with non-JSON`, { cause });
    }
  }
}
