export type { StoreErrorCode } from './codes.ts';
export { STORE_ERROR_CODES } from './codes.ts';
export type { MigrateOptions, MigrateResult, MigrationDb, MigrationStep } from './migrate.ts';
export { migrate } from './migrate.ts';
