import { TmbError } from '@tmb/core';

/** Error codes of the agent (docs/errors.md). */
export const AGENT_ERROR_CODES = [
  'AGENT_CONFIG_INVALID',
  'AGENT_LISTEN_FAILED',
  'AGENT_STORE_FAILED',
  'AGENT_ENROL_REJECTED',
  'AGENT_PUSH_FAILED',
  'UPSTREAM_TIMEOUT',
  'KERNEL_LOG_MALFORMED',
  'KERNEL_LOG_UNREADABLE',
  'UPSTREAM_PROC_MALFORMED',
] as const;

export type AgentErrorCode = (typeof AGENT_ERROR_CODES)[number];

/** The one error class of `@tmb/agent`. */
export class AgentError extends TmbError<AgentErrorCode> {
  constructor(code: AgentErrorCode, message: string, options?: ErrorOptions) {
    super('AgentError', code, message, options);
  }
}
