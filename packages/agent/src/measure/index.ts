// The measurement event names are core's (docs/registry.md); re-exported for the agent's users.
export type { HostRole } from '@tmb/core/ima';
export { AGENT_BUILD_EVENT, AGENT_KEY_EVENT, HOST_ROLES, MANIFEST_EVENT, ROLE_EVENT } from '@tmb/core/ima';
export type { AgentBuild } from './build.ts';
export { AGENT_BUILD_TREES, agentBuild } from './build.ts';
export { fileStamp, hashFile, listFiles, manifest } from './files.ts';
export type { ExtendFn, MeasurementLogOptions } from './log.ts';
export { MeasurementLog } from './log.ts';
export { HOST_LOG_PATH, postAssertedLog } from './post.ts';
export type { HostMeasurements, MeasuredPath } from './roles.ts';
export { measureHost } from './roles.ts';
export type { HostSpec } from './spec.ts';
export { isEmptySpec } from './spec.ts';
export type { HostMeasurement } from './start.ts';
export { startHostMeasurement } from './start.ts';
