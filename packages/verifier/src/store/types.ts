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
  /** Receipts with this provider request id, oldest first, at most `limit`. */
  byRequestId(requestId: string, limit: number): Promise<StoredReceipt[]>;
  /** Leaves of an agent's log with seq >= from, in seq order, at most `limit`. */
  leaves(agent: string, from: number, limit: number): Promise<LeafRecord[]>;
  /** The agent's attestation state (JSON text, attest/state.ts), or undefined. */
  getAttest(agent: string): Promise<string | undefined>;
  putAttest(agent: string, state: string): Promise<void>;
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
  /** Records receipts refused at a log position (the first refusal of a seq is kept). */
  putRefusals(agent: string, list: readonly Refusal[]): Promise<void>;
  /** The lowest refused seq in [from, to), or undefined. */
  firstRefusal(agent: string, from: number, to: number): Promise<Refusal | undefined>;
}
