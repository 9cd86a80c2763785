export type { AgentBuild } from './build.ts';
export { AGENT_BUILD_TREES, agentBuild } from './build.ts';
export type { HostMeasurements, MeasuredPath } from './measure.ts';
export { measureHost } from './measure.ts';
export { HOST_LOG_PATH, postAssertedLog } from './post.ts';
export type { HostMeasurement } from './run.ts';
export { startHostMeasurement } from './run.ts';
export type { HostRole, HostSpec } from './spec.ts';
export { AGENT_BUILD_EVENT, HOST_ROLES, isEmptySpec, ROLE_EVENT } from './spec.ts';
