// Names of the events the TMB agent writes in its measurement log (docs/registry.md, "Agent
// build" and "Host roles"; docs/evidence.md), read back by the verifier and the client. All are
// ima-buf entries whose path field is the name below.

/** The ima-buf event whose buffer is the agent's raw 32-byte Ed25519 signing key. */
export const AGENT_KEY_EVENT = 'tmb.agent-key';

/** The ima-buf event whose buffer is the agent build's manifest and whose digest is the build digest. */
export const AGENT_BUILD_EVENT = 'tmb.agent-build';

/** Prefix of the ima-buf events that declare a measured path's role: `tmb.role:<role>`, buffer = the absolute path. */
export const ROLE_EVENT = 'tmb.role:';

/** Prefix of the ima-buf event that carries a directory's manifest: `tmb.manifest:<directory>`. */
export const MANIFEST_EVENT = 'tmb.manifest:';

/**
 * The simulated kernel's entry 1 (ima-buf; docs/ima.md, docs/kernel.md): written by the demo's
 * measuring launcher where the kernel has no IMA; a verdict then names `kernel: simulated`.
 */
export const SIMULATED_KERNEL_EVENT = 'tmb.simulated-kernel';

/** The roles a measured path can have (the `<role>` of a ROLE_EVENT). */
export const HOST_ROLES = ['weights', 'engine', 'engine-config'] as const;

/** One of HOST_ROLES. */
export type HostRole = (typeof HOST_ROLES)[number];
