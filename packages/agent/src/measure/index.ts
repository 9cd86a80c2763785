export { fileStamp, hashFile, listFiles, manifest } from './files.ts';
export type { ExtendFn, MeasurementLogOptions } from './log.ts';
export { AGENT_KEY_EVENT, MANIFEST_EVENT, MeasurementLog } from './log.ts';
