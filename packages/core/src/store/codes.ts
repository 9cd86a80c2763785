/** Error codes of the store area: schema versions and migrations of the SQLite stores (docs/errors.md). */
export const STORE_ERROR_CODES = [
  'STORE_SCHEMA_TOO_NEW',
  'STORE_MIGRATION_FAILED',
  'STORE_MIGRATIONS_INVALID',
] as const;

/** A code of the store area. */
export type StoreErrorCode = (typeof STORE_ERROR_CODES)[number];
