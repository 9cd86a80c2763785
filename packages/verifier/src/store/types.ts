/** An enrolled agent key. */
export interface KeyRecord {
  agent: string;
  /** Hex SHA-256 of the raw key. */
  keyId: string;
  /** Raw 32-byte Ed25519 public key. */
  key: Uint8Array;
  /** Unix time in milliseconds. */
  enrolledAt: number;
}

/** A receipt as stored: the exact wire bytes, plus columns for lookup. */
export interface StoredReceipt {
  id: string;
  requestId: string;
  agent: string;
  keyId: string;
  /** Canonical body bytes exactly as received (the verdict is recomputed from these). */
  body: Uint8Array;
  /** Signature bytes exactly as received. */
  sig: Uint8Array;
  /** Unix time in milliseconds. */
  receivedAt: number;
  /** The receipt's index in its agent's log (body `seq`); given, the store keeps its leaf hash. */
  seq?: number;
}

/** One leaf of an agent's receipt log as the verifier holds it. */
export interface LeafRecord {
  seq: number;
  /** RFC 6962 leaf hash of the receipt body bytes. */
  hash: Uint8Array;
}

/** A complete subtree of a run's tree: level (>= 1 when written; 0 reads the leaf), index, hash. */
export interface NodeRecord {
  level: number;
  index: number;
  hash: Uint8Array;
}

/** A receipt the verifier refused at a log position: the seq, the code, Unix ms. */
export interface Refusal {
  seq: number;
  code: string;
  at: number;
}

/** What {@link Store.consumeNonce} found: `ok` (it was live, unused and this agent's; now used). */
export type NonceUse = 'ok' | 'unknown' | 'other-agent' | 'reused';

/** A row of the attestation table with its version (see {@link Store.readAttest}). */
export interface VersionedAttest {
  /** 1 on the first write of the key, +1 on each write after. */
  version: number;
  /** The row's text; absent when the reader already holds this version. */
  state?: string;
}

/**
 * One archived quote of an agent (bundle/archive.ts, docs/bundle.md "At the verifier"): its
 * number `n` (0, 1, ... per agent), `boot` the n of the first quote of its boot (a quote whose
 * log chunks start at entry 0), the TPM reset count, the seq end it covers (run base +
 * checkpoint size) and the quote itself (JSON text).
 */
export interface ArchivedRow {
  n: number;
  boot: number;
  resetCount: number;
  seqEnd: number;
  quote: string;
}

/**
 * What {@link Store.archivedAt} finds: the agent's first archived quote (lowest n) whose seq end
 * is above a seq, and the lowest n the agent's archive still holds (retention deletes a prefix of
 * n: rows below `first` are gone); each undefined when there is none.
 */
export interface ArchivedAt {
  hit: ArchivedRow | undefined;
  first: number | undefined;
}

/** What {@link Store.appendArchived} adds: `fresh` when its log chunks start at entry 0. */
export interface ArchivedQuoteIn {
  resetCount: number;
  seqEnd: number;
  fresh: boolean;
  quote: string;
}

/**
 * The Store methods a receipt push or a receipt-key enrolment uses under the agent's receipt
 * lock ({@link Store.receiptLocked}), on the lock's transaction where the store has one.
 */
export type ReceiptSession = Pick<Store, 'addKey' | 'getKey' | 'agentKeys' | 'firstSeqs' | 'putReceipts'>;

/**
 * Where the verifier keeps keys and receipts. Every method is async so that a networked
 * store (PostgreSQL, `pg`) can implement the same interface as the embedded SQLite one.
 */
export interface Store {
  /** Enrols a key; `false` when that key id is already enrolled (for any agent). */
  addKey(record: KeyRecord): Promise<boolean>;
  getKey(keyId: string): Promise<KeyRecord | undefined>;
  listKeys(): Promise<KeyRecord[]>;
  /** The keys enrolled for one agent, in enrolment order (the last one is the current run's). */
  agentKeys(agent: string): Promise<KeyRecord[]>;
  /** For each key of the agent with stored receipts: the lowest log position (seq) they hold. */
  firstSeqs(agent: string): Promise<Map<string, number>>;
  /** Records the operator's permission for the agent's next AK activation to replace its AK on
   * another EK (`tmb verifier allow-ak`). */
  allowAkReplacement(agent: string, at: number): Promise<void>;
  /** Uses up the agent's permission: `true` when there was one (it is gone after). */
  takeAkAllowance(agent: string): Promise<boolean>;
  /** Inserts receipts in one transaction, each unless one with its id exists; for each, in
   * order: `inserted`; `seq-taken` when another receipt of the agent already holds its seq
   * (nothing stored); or the receipt already stored under that id. */
  putReceipts(receipts: readonly StoredReceipt[]): Promise<('inserted' | 'seq-taken' | StoredReceipt)[]>;
  getReceipt(id: string): Promise<StoredReceipt | undefined>;
  /**
   * Optional (PgStore): runs `fn` in ONE transaction that first takes the cross-process lock
   * `lockKey` (lock.ts receiptLockKey; the same advisory lock PgAgentLock takes on that key),
   * with `fn`'s reads and writes on that transaction, so a push needs no separate lock
   * transaction. The caller holds the in-process part of the lock (AgentLock.local). Where a
   * store lacks it, the caller runs `fn(store)` under AgentLock.run (receipt/keys.ts receiptLocked).
   * `fn` may run again when the database aborts the transaction (deadlock): no effects outside `s`.
   */
  receiptLocked?<T>(lockKey: string, fn: (s: ReceiptSession) => Promise<T>): Promise<T>;
  /** Receipts with this provider request id, oldest first, at most `limit`. */
  byRequestId(requestId: string, limit: number): Promise<StoredReceipt[]>;
  /** Leaves of an agent's log with seq >= from, in seq order, at most `limit`. */
  leaves(agent: string, from: number, limit: number): Promise<LeafRecord[]>;
  /** The agent's attestation state (JSON text, attest/state.ts), or undefined. */
  getAttest(agent: string): Promise<string | undefined>;
  /** Writes the row unconditionally (last writer wins) and adds one to its version (readAttest). */
  putAttest(agent: string, state: string): Promise<void>;
  /** Reads rows of the attestation table in one statement (one snapshot): texts in `keys` order, undefined where none. */
  getAttestRows(keys: readonly string[]): Promise<(string | undefined)[]>;
  /** Writes rows of the attestation table (distinct keys) as putAttest does, all in one statement: a reader sees all or none. */
  putAttestRows(rows: readonly (readonly [string, string])[]): Promise<void>;
  close(): Promise<void>;
  // Log runs (attest/trees.ts, docs/evidence.md "Log runs and recovery").
  /** How many leaves the persisted tree of the agent's log run `run` from seq `base` has (0: none). */
  logTreeSize(agent: string, run: number, base: number): Promise<number>;
  /** Hashes of complete subtrees of run `run` (level 0: the leaf at seq base + index), undefined where absent. */
  logNodes(
    agent: string,
    run: number,
    base: number,
    at: readonly { level: number; index: number }[],
  ): Promise<(Uint8Array | undefined)[]>;
  /** Adds nodes (level >= 1) and sets the run's size, in one transaction; a size never shrinks. */
  growLogTree(
    agent: string,
    run: number,
    base: number,
    size: number,
    nodes: readonly NodeRecord[],
  ): Promise<void>;
  // Shared state of several verifier processes on one database (issue 12, docs/deploy.md
  // "Several processes"): what one process issues or learns, any other may be asked about.
  /**
   * Records a quote nonce issued to `agent`, live until `expiresAt` (Unix ms), unused. In the
   * same transaction: deletes every nonce (of any agent) expired at `now`, then the agent's
   * oldest ones past `perAgent` live nonces (by expiry, then insertion order), so the table holds
   * at most perAgent nonces per agent plus what expires within the TTL. Nonces are 64 hex
   * digits (random): a duplicate is a bug, and may throw.
   */
  issueNonce(agent: string, nonce: string, expiresAt: number, now: number, perAgent: number): Promise<void>;
  /**
   * Uses `nonce` once, atomically: `ok` when it was issued to `agent`, expires after `now` and
   * was unused (it is marked used in the same statement); `unknown` when never issued, expired
   * or pruned; `other-agent` when live but issued to another agent (it stays unused);
   * `reused` when live, this agent's and already used. Of two concurrent calls with the same
   * nonce, in any processes, exactly one gets `ok` (a conditional UPDATE ... WHERE used = 0).
   */
  consumeNonce(agent: string, nonce: string, now: number): Promise<NonceUse>;
  /**
   * Keeps `agent`'s pending AK enrolment (JSON text: attest/pending.ts) until `expiresAt`,
   * replacing any earlier pending one of the agent (the last enrolment wins).
   */
  putPendingAk(agent: string, state: string, expiresAt: number): Promise<void>;
  /**
   * Takes `agent`'s pending AK enrolment, atomically: returns its text and deletes it when one
   * is there and expires after `now` (an expired one is deleted and undefined returned). Of two
   * concurrent calls exactly one gets the text (DELETE ... RETURNING, or SELECT FOR UPDATE).
   */
  takePendingAk(agent: string, now: number): Promise<string | undefined>;
  /** Whether `agent` has a pending AK enrolment that expires after `now` (read only). */
  hasPendingAk(agent: string, now: number): Promise<boolean>;
  /**
   * Reads a row of the attestation table with its version (the table of getAttest/putAttest):
   * undefined when there is none; `state` left out when the row's version equals `known` (the
   * caller's cached copy is current: one round trip, no text sent). Every write of the row
   * (putAttest or putAttestIf) adds one to its version; the first write makes it 1.
   */
  readAttest(key: string, known?: number): Promise<VersionedAttest | undefined>;
  /**
   * Compare-and-set of a row of the attestation table: writes `state` only when the row's
   * version is `version` now (0: only when there is no row), atomically; returns the new version
   * (version + 1), or undefined when another writer changed the row first (nothing written: the
   * caller re-reads and retries). Of two writers from the same version exactly one wins.
   */
  putAttestIf(key: string, state: string, version: number): Promise<number | undefined>;
  /** Which of `ids` (at most 1,000) are stored receipt ids (long-polls waiting at another process). */
  storedReceipts(ids: readonly string[]): Promise<Set<string>>;
  // The offline bundles' archive (bundle/archive.ts): one row per accepted quote.
  /**
   * Appends an archived quote of `agent` in one statement: its n is one past the agent's newest
   * row's (0 for the first); its boot is its own n when `fresh`, when the agent has no row or
   * when the newest row's reset count differs, else the newest row's boot. A row that starts a
   * boot then deletes the agent's rows of boots older than its `keepBoots` newest. Callers
   * append one agent's quotes one at a time (under the agent lock): two appends at once may
   * throw (the same n). Returns the row's n and boot.
   */
  appendArchived(agent: string, q: ArchivedQuoteIn, keepBoots: number): Promise<{ n: number; boot: number }>;
  /**
   * The rows of `agent`'s boot that holds its first archived quote (lowest n) whose seq end is
   * above `seq`: from that boot's first row up to that quote, in n order (rows a failed write
   * left out are simply absent). Empty when no row's seq end is above `seq`.
   */
  archivedFor(agent: string, seq: number): Promise<ArchivedRow[]>;
  /** The row archivedFor ends with, alone, and the agent's lowest archived n (ArchivedAt): one query. */
  archivedAt(agent: string, seq: number): Promise<ArchivedAt>;
  /** Records receipts refused at a log position (the first refusal of a seq is kept). */
  putRefusals(agent: string, list: readonly Refusal[]): Promise<void>;
  /** The lowest refused seq in [from, to), or undefined. */
  firstRefusal(agent: string, from: number, to: number): Promise<Refusal | undefined>;
}
