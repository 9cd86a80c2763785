import type { KeyRecord, StoredReceipt } from './types.ts';

/** A row as either store's driver gives it: column name to value. */
export type Row = Record<string, unknown>;

/** An enrolled key from its `agent_keys` row (same columns in SQLite and PostgreSQL). */
export function keyRow(row: Row): KeyRecord {
  return {
    keyId: row.key_id as string,
    agent: row.agent as string,
    key: new Uint8Array(row.key as Uint8Array),
    enrolledAt: Number(row.enrolled_at),
  };
}

/**
 * A stored receipt from its `receipts` row. Blobs (SQLite BLOB, PostgreSQL bytea: a Buffer) are
 * copied into plain Uint8Arrays; integers (bigint in PostgreSQL) read back as numbers.
 */
export function receiptRow(row: Row): StoredReceipt {
  return {
    id: row.id as string,
    requestId: row.request_id as string,
    agent: row.agent as string,
    keyId: row.key_id as string,
    body: new Uint8Array(row.body as Uint8Array),
    sig: new Uint8Array(row.sig as Uint8Array),
    receivedAt: Number(row.received_at),
  };
}
