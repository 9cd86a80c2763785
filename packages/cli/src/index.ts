export { CLI_ERROR_CODES, type CliErrorCode } from './args.ts';
export { main } from './main.ts';
export type { Command, CommandMain, Io } from './registry.ts';
export { COMMANDS } from './registry.ts';
