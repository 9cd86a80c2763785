export { main } from './main.ts';
export type { Command, CommandMain, Io } from './registry.ts';
export { COMMANDS } from './registry.ts';
