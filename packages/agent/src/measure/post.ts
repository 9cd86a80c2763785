import { readBoundedText } from '@tmb/core';
import type { MeasurementLog } from './log.ts';

/** Where the agent sends its measurement log when no TPM quotes it. */
export const HOST_LOG_PATH = '/v1/host/log';

/**
 * Sends the whole measurement log to the verifier as asserted evidence: with no TPM nothing
 * quotes it, so the verifier's checks on it say `asserted` at best (docs/registry.md). The
 * log is small (a few entries per measured path), so it is sent whole each time it grows.
 * @throws Error when the verifier does not answer 200
 */
export async function postAssertedLog(
  verifier: { url: string; token: string },
  agent: string,
  log: MeasurementLog,
  timeoutMs = 10_000,
): Promise<void> {
  const res = await fetch(`${verifier.url.replace(/\/$/, '')}${HOST_LOG_PATH}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${verifier.token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ agent, entries: Buffer.from(log.binary(0)).toString('base64url') }),
    signal: AbortSignal.timeout(timeoutMs),
  });
  const text = await readBoundedText(res, 64 * 1024);
  if (res.status !== 200)
    throw new Error(`verifier answered ${res.status} to ${HOST_LOG_PATH}: ${text.slice(0, 200)}`);
}
