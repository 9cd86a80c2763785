export { HostAppraiser } from './appraiser.ts';
export type { AgentHost, HostReferences } from './checks.ts';
export { appraiseHostEvidence } from './checks.ts';
export type { HostLedger, HostRun } from './ledger.ts';
export { emptyLedger, foldEntries, MAX_RUNS } from './ledger.ts';
export { loadReferences } from './references.ts';
