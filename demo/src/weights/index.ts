export type { DemoWeights } from './files.ts';
export {
  DEMO_WEIGHTS_BYTES,
  DEMO_WEIGHTS_MODEL,
  demoWeightsBytes,
  SAMPLE_ENGINE_EXE,
  writeDemoWeights,
} from './files.ts';
export { demoRegistry, SAMPLE_ENGINE } from './registry.ts';
