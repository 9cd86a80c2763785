export type { KernelSimErrorCode } from './errors.ts';
export { KERNEL_SIM_ERROR_CODES, KernelSimError } from './errors.ts';
export { SIMULATED_KERNEL_BUFFER, SIMULATED_KERNEL_EVENT } from './securityfs.ts';
export type { SimulatedKernel, SimulatedKernelOptions } from './start.ts';
export { startSimulatedKernel } from './start.ts';
