/**
 * @tmb/demo: sample infrastructure for the demo, tests and benchmarks. Everything here is a
 * SAMPLE (a stub that runs no model), never something to deploy.
 */
export type { GenerationEvent, SampleServerOptions, SampleVariant } from './sample/options.ts';
export { CHEAP_LATENCY_FACTOR, MAX_COMPLETION_TOKENS } from './sample/options.ts';
export type { RunningSampleServer } from './sample/server.ts';
export { SAMPLE_SERVER_HEADER, startSampleServer } from './sample/server.ts';
