export { appraiseHost, measuredDigests, weightsVerdict } from './appraise.ts';
export { normalizeDigest } from './digest.ts';
export { compileRegistry, parseRegistry } from './parse.ts';
export type { CompiledRegistry, ModelRegistry, WeightsStatus, WeightsVerdict } from './types.ts';
