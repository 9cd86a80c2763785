import { concat, fromBase64Url, Lru, toBase64Url } from '@tmb/core';
import { parseBinaryColumns } from '@tmb/core/ima';
import { ed25519NoteVerifier, formatSignatureLine, logOrigin, parseNote } from '@tmb/core/log';
import type { CheckpointKeyMember } from '@tmb/core/tpm';
import type { Evidence } from '../appraise/evidence.ts';
import { checkpointKeyMember } from '../attest/ckey.ts';
import type { AgentAttest } from '../attest/state.ts';
import type { Store } from '../store/types.ts';
import { ArchiveRowError, decodeRows, encodeRow, type SameMember } from './rowcodec.ts';

/**
 * One accepted quote as a bundle needs it (docs/bundle.md, "At the verifier"): the quote, its
 * note, nonce and quoted members, the checkpoint key, the previous quoted checkpoint with the
 * consistency proof, and the measurement-log entries this quote newly covered (byte chunks:
 * concatenated from the boot's first quote they give the logs from entry 0). Plain JSON.
 */
export interface ArchivedQuote {
  size: number;
  /** The checkpoint's log run and its base seq (docs/proofs.md, "Log runs"); absent: run 0, base 0. */
  run?: number;
  base?: number;
  resetCount: number;
  note: string;
  nonce: string;
  quote: { attest: string; signature: string; pcrs: string };
  quoted: { telemetryTool: string | null; upstream: unknown };
  checkpointKey: string;
  /** The certified TPM key that co-signed the note (null: none, in rows before issue 9). */
  tpmKey: CheckpointKeyMember | null;
  previous: { checkpoint: string; key: string; proof: unknown } | null;
  pcr: number;
  /** The AK that quoted and the EK it was activated on (TPM2B_PUBLIC, base64url), as enrolled then. */
  akPublic: string;
  ekPublic: string;
  /** The EK certificate (DER, base64url) the agent enrolled with, when the verifier kept it. */
  ekCertificate: string | null;
  /** base64url binary entries of the agent's log this quote newly covered. */
  app: string;
  /** base64url binary entries of the kernel's log this quote newly covered; null: no kernel log. */
  kernel: string | null;
  /** base64url boot event log, when this quote's evidence carried one. */
  boot: string | null;
}

/**
 * Most boots whose quotes the archive keeps per agent (store: bundle_quotes); when a quote starts
 * a newer boot, the oldest boot's rows are deleted and its receipts' bundles no longer served.
 * Within a boot every accepted quote is kept (a bundle replays the logs from the boot's entry 0).
 */
export const MAX_BOOTS = 16;

/**
 * Agents whose last written row this process remembers (their members' refs, rowcodec.ts): a
 * row of an agent not remembered is written whole (every member explicit), the next by reference.
 */
const WRITTEN_AGENTS = 65_536;

/** What this process last wrote for an agent: its reset count and its members' refs. */
interface Written {
  resetCount: number;
  refs: Map<SameMember, string>;
}

/** The bytes of entries [from, to) of a binary log whose first entry is `first`. */
function slice(log: Uint8Array, first: number, from: number, to: number): Uint8Array {
  if (to <= from) return new Uint8Array(0);
  const cols = parseBinaryColumns(log, { firstIndex: first });
  const a = from - first;
  const b = to - first;
  // Entries before the evidence's first are not in it: no chunk (the row is not written).
  if (a < 0) throw new RangeError(`entries from ${from} are not in a log chunk starting at ${first}`);
  const start = a < cols.length ? cols.offset[a]! : log.length;
  const end = b < cols.length ? cols.offset[b]! : log.length;
  return log.subarray(start, end);
}

/**
 * Keeps, in the store's archive (table bundle_quotes, one row per accepted quote), what each
 * accepted quote adds to the evidence a bundle carries. Written after the quote is accepted (its
 * checks passed), so every chunk replays.
 */
export class BundleArchive {
  readonly #store: Store;
  #chain: Promise<unknown> = Promise.resolve();
  readonly #written = new Lru<string, Written>(WRITTEN_AGENTS);

  constructor(store: Store) {
    this.#store = store;
  }

  /** Records an accepted quote: `before` and `after` are the agent's states around it. Never rejects. */
  record(
    agent: string,
    ev: Evidence,
    before: AgentAttest,
    after: AgentAttest,
    checkpointKey: Uint8Array,
    previousKey: Uint8Array | null,
  ): Promise<void> {
    const run = this.#chain.then(async () => {
      const reset = after.ima?.resetCount ?? 0;
      // The agent's log goes on from the previous quote (same reset count): not a new boot,
      // even when that quote had replayed no entry of it (nextIndex 0: the scale bench's agents).
      const goesOn = before.ima !== null && before.ima.resetCount === reset;
      const appFrom = goesOn ? before.ima!.nextIndex : 0;
      const app = slice(ev.log, ev.logFrom, appFrom, after.ima?.nextIndex ?? 0);
      let kernel: Uint8Array | null = null;
      if (ev.kernel !== null && after.kernel) {
        const k = before.kernel;
        const kFrom = k && k.resetCount === after.kernel.resetCount ? k.ima.nextIndex : 0;
        kernel = slice(ev.kernel.entries, ev.kernel.from, kFrom, after.kernel.ima.nextIndex);
      }
      const base = after.run?.base ?? 0;
      const runNo = after.run?.run ?? 0;
      // A new log run's first checkpoint extends no earlier one (docs/evidence.md): no previous.
      const prev = (before.run?.run ?? 0) === runNo ? before.checkpoint : null;
      const q: ArchivedQuote = {
        size: after.checkpoint!.size,
        ...(runNo > 0 ? { run: runNo, base } : {}),
        resetCount: reset,
        note: ev.note,
        nonce: ev.nonce,
        quote: {
          attest: toBase64Url(ev.attest),
          signature: toBase64Url(ev.signature),
          pcrs: toBase64Url(ev.pcrs),
        },
        quoted: { telemetryTool: ev.telemetryTool, upstream: ev.upstream ?? null },
        checkpointKey: toBase64Url(checkpointKey),
        tpmKey: tpmKeyOf(after),
        previous:
          prev !== null && previousKey !== null
            ? {
                checkpoint: ownSignature(prev.note, agent, previousKey),
                key: toBase64Url(previousKey),
                proof: ev.consistency,
              }
            : null,
        pcr: after.pcr,
        akPublic: after.akPublic,
        ekPublic: after.ekPublic,
        ekCertificate: after.ekCertificate ?? null,
        app: toBase64Url(app),
        kernel: kernel === null ? null : toBase64Url(kernel),
        boot: ev.boot === null ? null : toBase64Url(ev.boot.log),
      };
      // A chunk from entry 0 starts the logs afresh (a reboot, or a new AK's first quote): a
      // new boot, in the store's words (appendArchived), whose first row is written whole.
      const w = goesOn ? this.#written.get(agent) : undefined;
      const row = encodeRow(q, w !== undefined && w.resetCount === reset ? w.refs : undefined);
      await this.#store.appendArchived(
        agent,
        { resetCount: reset, seqEnd: base + q.size, fresh: !goesOn, quote: row.text },
        MAX_BOOTS,
      );
      this.#written.set(agent, { resetCount: reset, refs: row.refs });
    });
    // A failure here (the store) is not thrown into the appraisal. On SQLite the quote is
    // accepted without its row: the receipts it judges then get no bundle, or one whose logs do
    // not replay, a named failure at the client, never a pass. On PostgreSQL the row is written in
    // the appraisal's own transaction (store/pg-route.ts), which a failed statement aborts: the
    // evidence post then fails STORE_FAILED and nothing of the appraisal is kept.
    this.#chain = run.catch(() => {});
    return this.#chain as Promise<void>;
  }

  /**
   * Forgets what this process last wrote for `agent`: its next row is written whole. Called when
   * an appraisal failed after its row may have been written: on PostgreSQL the row is in the
   * appraisal's transaction (store/pg-route.ts), and a transaction that did not commit must leave
   * no member that later rows name by reference only.
   */
  forget(agent: string): void {
    this.#written.delete(agent);
  }

  /**
   * The quote that judges receipt `seq` (the first archived one whose seq end is above it) and
   * the quotes of its boot up to it, oldest first; null when no archived quote covers it (also
   * when that quote's log run starts past `seq`: a receipt its run left behind).
   * @throws ArchiveRowError (ARCHIVE_ROW_INVALID) when a row of them does not decode (rowcodec.ts).
   */
  async judging(agent: string, seq: number): Promise<ArchivedQuote[] | null> {
    const out = await this.#boot(agent, seq);
    return out === null || (out.at(-1)!.base ?? 0) > seq ? null : out;
  }

  /** judging() without the log run's check: the boot's quotes up to the first covering `seq`. */
  async #boot(agent: string, seq: number): Promise<ArchivedQuote[] | null> {
    const rows = await this.#store.archivedFor(agent, seq);
    const last = rows.at(-1);
    // A quote of the boot left out (a write that failed, a row the move from the previous
    // layout found no text for): the logs would not replay from entry 0, so no bundle.
    if (last === undefined || rows[0]!.n !== last.boot || rows.length !== last.n - last.boot + 1) return null;
    let out: ArchivedQuote[];
    try {
      out = decodeRows(rows.map((r) => r.quote));
    } catch (err) {
      if (!(err instanceof ArchiveRowError)) throw err;
      throw new ArchiveRowError(
        `archived quote ${last.n} of ${agent}, boot from ${last.boot}: ${err.message}`,
      );
    }
    return out;
  }

  /**
   * The quote judging() ends with, alone, for the verdict of a receipt of a folded log run
   * (attest/runs.ts placeFolded), and whether the archive still holds every quote that could
   * have covered `seq` (ArchiveCover): one query, no log chunks joined.
   */
  async covering(agent: string, seq: number): Promise<ArchiveCover> {
    const { hit, first } = await this.#store.archivedAt(agent, seq);
    if (hit === undefined || first === undefined) return { quote: null, whole: false };
    const whole = hit.n > first || first === 0;
    try {
      // A row written by reference needs its boot's earlier rows (rare: folded runs only).
      const alone = decodeRows([hit.quote]);
      return { quote: alone[0]!, whole };
    } catch {
      try {
        const quotes = await this.#boot(agent, seq);
        return quotes === null ? { quote: null, whole: false } : { quote: quotes.at(-1)!, whole };
      } catch {
        return { quote: null, whole: false };
      }
    }
  }
}

/**
 * What the archive says of a seq (BundleArchive.covering): the first archived quote whose seq
 * end is above it (null: none, or its row does not parse), and `whole`: the archive still holds
 * every quote accepted before that one, back to the agent's first (retention deletes whole boots
 * from the oldest, so a row before it, or a first row numbered 0, proves that nothing that could
 * have covered the seq was deleted).
 */
export interface ArchiveCover {
  quote: ArchivedQuote | null;
  whole: boolean;
}

/** The logs from entry 0 of the boot up to the last of `quotes` (judging), concatenated. */
export function joinedLogs(quotes: readonly ArchivedQuote[]): {
  app: Uint8Array;
  kernel: Uint8Array | null;
  boot: Uint8Array | null;
} {
  const app = concat(...quotes.map((q) => fromBase64Url(q.app)));
  const last = quotes.at(-1)!;
  const kernel =
    last.kernel === null
      ? null
      : concat(...quotes.map((q) => (q.kernel === null ? new Uint8Array(0) : fromBase64Url(q.kernel))));
  const bootB64 = [...quotes].reverse().find((q) => q.boot !== null)?.boot ?? null;
  return { app, kernel, boot: bootB64 === null ? null : fromBase64Url(bootB64) };
}

/** The certified TPM key that co-signed the state's latest quoted checkpoint, as answers carry it. */
function tpmKeyOf(s: AgentAttest): CheckpointKeyMember | null {
  const name = s.checkpoint?.tpmKeyName;
  const k = name === undefined ? undefined : s.checkpointKeys?.find((x) => x.keyName === name);
  return k === undefined ? null : checkpointKeyMember(k);
}

/**
 * The note with only the signature line of the agent key (docs/bundle.md, `previous`): the
 * bundle checks the previous checkpoint under that key alone, and a line it cannot check (the
 * previous start's TPM key) would be bytes nothing binds.
 */
function ownSignature(note: string, agent: string, key: Uint8Array): string {
  try {
    const n = parseNote(note);
    const id = ed25519NoteVerifier(logOrigin(agent), key).keyId;
    return `${n.text}\n${n.signatures
      .filter((s) => s.keyId === id)
      .map(formatSignatureLine)
      .join('')}`;
  } catch {
    return note;
  }
}
