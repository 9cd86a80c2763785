export type { Framed } from './frame.ts';
export { frameEntries, parseMeasurementCount } from './frame.ts';
export type { KernelLogOptions, KernelRead } from './reader.ts';
export { BOOT_LOG_MAX_BYTES, KernelLog } from './reader.ts';
