export { main } from './main.ts';
export { COMMANDS } from './registry.ts';
export type { Command, CommandMain, Io } from './registry.ts';
