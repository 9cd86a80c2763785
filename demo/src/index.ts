/**
 * @tmb/demo: sample infrastructure for the demo, tests and benchmarks. Everything here is a
 * SAMPLE (a stub that runs no model), never something to deploy.
 */

// The simulated UEFI firmware (DEVELOPMENT ONLY, docs/boot.md): extends PCRs 0-9, writes a TCG2 log.
export { SIMULATED_BOOT, simulatedBootPolicy, simulateFirmware } from './firmware/index.ts';
export type { WarmupFitOptions } from './gpu/calibrate.ts';
export { fitWarmupProfile, signProfile } from './gpu/calibrate.ts';
export type { RunningSimGpu } from './gpu/server.ts';
export { FAKE_NVIDIA_SMI, startSimulatedGpu, writeNvidiaSmiWrapper } from './gpu/server.ts';
export type { SimGpuOptions, SimGpuReading } from './gpu/sim.ts';
export { CHEAP_ENERGY_FACTOR, SIM_GPU_NAME, SimulatedGpu } from './gpu/sim.ts';
// The simulated kernel (DEVELOPMENT ONLY, docs/kernel.md): fanotify-measured mount namespace + TPM proxy.
export type { KernelSimErrorCode, SimulatedKernel, SimulatedKernelOptions } from './kernel/index.ts';
export {
  KERNEL_SIM_ERROR_CODES,
  KernelSimError,
  SIMULATED_KERNEL_BUFFER,
  SIMULATED_KERNEL_EVENT,
  startSimulatedKernel,
} from './kernel/index.ts';
// The load balancer in front of the demo's hosts, and the proxy bench's nginx baseline (docs/demo.md).
export type { AccessEntry } from './lb/access.ts';
export { AccessLog } from './lb/access.ts';
export type { NginxRoutes, NginxUpstream, RunningNginx } from './lb/nginx.ts';
export {
  findNginx,
  freePort,
  makePrefix,
  NGINX_ACCESS_LOG,
  NGINX_INSTALL_HINT,
  NGINX_MAX_BODY_BYTES,
  NGINX_READY_PATH,
  nginxConfig,
  startNginx,
  testNginxConfig,
} from './lb/nginx.ts';
export type { CheatWeights } from './lb/share.ts';
export { cheatWeights, SmoothRoundRobin } from './lb/share.ts';
export type { GenerationEvent, SampleServerOptions, SampleVariant } from './sample/options.ts';
export { CHEAP_LATENCY_FACTOR, MAX_COMPLETION_TOKENS } from './sample/options.ts';
export type { RunningSampleServer } from './sample/server.ts';
export { SAMPLE_SERVER_HEADER, startSampleServer } from './sample/server.ts';
export type { DemoWeights } from './weights/index.ts';
export { DEMO_WEIGHTS_MODEL, demoRegistry, SAMPLE_ENGINE_EXE, writeDemoWeights } from './weights/index.ts';
