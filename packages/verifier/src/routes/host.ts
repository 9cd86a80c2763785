import { CoreError } from '@tmb/core';
import { parseBinaryLog } from '@tmb/core/ima';
import { VerifierError } from '../errors.ts';
import { stringField } from '../http/body.ts';
import { sendJson } from '../http/respond.ts';
import type { Context } from './context.ts';
import { agentBody } from './request.ts';

/**
 * POST /v1/host/log (docs/api.md): an agent without a TPM posts its whole measurement log,
 * `{"agent": NAME, "entries": base64url binary ima-ng log}`. Nothing quotes it, so the checks
 * made from it say `asserted` at best; it is still read, since a provider's own log naming
 * weights that are not allowed convicts it. 200 `{"entries": N, "runs": K}`.
 * @throws VerifierError TOKEN_INVALID | TOKEN_AGENT_MISMATCH | BODY_MALFORMED | BODY_TOO_LARGE
 */
export async function postHostLog(ctx: Context): Promise<void> {
  const host = ctx.host;
  if (host === undefined)
    throw new VerifierError('ROUTE_NOT_FOUND', 'this verifier keeps no host measurements');
  const { agent, body } = await agentBody(ctx, {
    what: 'body',
    badName: '"agent" is not a valid agent name',
  });
  const text = stringField(body, 'entries', ctx.options.maxBodyBytes);
  if (!/^[A-Za-z0-9_-]*$/.test(text))
    throw new VerifierError('BODY_MALFORMED', '"entries" must be base64url');
  let entries: ReturnType<typeof parseBinaryLog>;
  try {
    entries = parseBinaryLog(new Uint8Array(Buffer.from(text, 'base64url')));
  } catch (err) {
    if (!(err instanceof CoreError)) throw err;
    throw new VerifierError(
      'BODY_MALFORMED',
      `"entries" is not a binary measurement log: ${err.code}: ${err.message}`,
    );
  }
  await host.recordAsserted(agent, entries);
  sendJson(ctx.res, 200, { entries: entries.length });
}
