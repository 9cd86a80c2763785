import { isAgentName } from '@tmb/core';
import { TokenAuth } from '../auth.ts';
import { VerifierError } from '../errors.ts';
import { asObject, readJson, stringField } from '../http/body.ts';
import type { Context } from './context.ts';

/** How an agent's request body is read (agentBody). */
export interface AgentBodyOptions {
  /** What the body is, in the BODY_MALFORMED message when it is not a JSON object. */
  what: string;
  /** Body cap in bytes; never below `maxBodyBytes`. Default `maxBodyBytes`. */
  maxBytes?: number;
  /** When set, `agent` must be a valid agent name (core isAgentName), else BODY_MALFORMED with this message. */
  badName?: string;
}

/**
 * Checks the bearer token, reads the JSON body and its `agent` member, and checks that the
 * token may act for that agent. Token first: an unknown caller learns nothing of the body rules.
 * @throws VerifierError TOKEN_INVALID | TOKEN_AGENT_MISMATCH | BODY_MALFORMED | BODY_TOO_LARGE
 */
export async function agentBody(
  ctx: Context,
  o: AgentBodyOptions,
): Promise<{ agent: string; body: Record<string, unknown> }> {
  const grant = ctx.auth.check(ctx.req.headers.authorization);
  const max = Math.max(o.maxBytes ?? 0, ctx.options.maxBodyBytes);
  const body = asObject(await readJson(ctx.req, max), o.what);
  const agent = stringField(body, 'agent', 128);
  if (o.badName !== undefined && !isAgentName(agent)) throw new VerifierError('BODY_MALFORMED', o.badName);
  TokenAuth.allow(grant, agent);
  return { agent, body };
}

/** An attest request's body (docs/evidence.md): a valid agent name, `maxBytes` at most. */
export function attestBody(
  ctx: Context,
  maxBytes?: number,
): Promise<{ agent: string; body: Record<string, unknown> }> {
  return agentBody(ctx, { what: 'request', badName: 'bad agent name', ...(maxBytes ? { maxBytes } : {}) });
}

/** An agent name from a URL path segment (percent-decoded). @throws VerifierError BODY_MALFORMED */
export function pathAgent(raw: string): string {
  const agent = decodeURIComponent(raw);
  if (!isAgentName(agent)) throw new VerifierError('BODY_MALFORMED', 'bad agent name');
  return agent;
}
