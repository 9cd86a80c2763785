import { bytesEqual, toBase64 } from '@tmb/core';
import { isTelemetryLine, parseTelemetryLine } from '@tmb/core/telemetry';
import type { TelemetryStore } from './store.ts';

/** What a checkpoint's `tmb-telemetry` extension line says about the agent's telemetry chain. */
export type ExtensionCheck =
  | { status: 'pass'; detail: string }
  | { status: 'fail'; detail: string }
  | { status: 'pending'; detail: string };

/**
 * Checks a checkpoint extension line `tmb-telemetry <count> <base64 head>` (written by the
 * agent's telemetryExtension) against the batches the verifier received: the head of batch
 * count-1 of the agent's current chain must be that head. `pending` when the verifier has not
 * received that batch yet; `fail` when it holds another head (the stream and the quoted
 * checkpoint disagree) or the line is malformed.
 */
export async function checkTelemetryExtension(
  store: TelemetryStore,
  agent: string,
  line: string,
): Promise<ExtensionCheck> {
  // Parsed by core (`@tmb/core/telemetry`): a head in non-canonical base64 is malformed too.
  const parsed = parseTelemetryLine(line);
  if (parsed === undefined) return { status: 'fail', detail: 'malformed tmb-telemetry extension line' };
  const { count, head } = parsed;
  const state = await store.chain(agent);
  if (state === undefined || state.nextSeq < count)
    return { status: 'pending', detail: `telemetry batch ${count - 1} has not reached the verifier yet` };
  const stored = (await store.batchHeads(agent, state.chain, [count - 1])).get(count - 1);
  if (stored === undefined)
    return { status: 'pending', detail: `telemetry batch ${count - 1} is no longer kept` };
  return bytesEqual(stored, head)
    ? { status: 'pass', detail: `the checkpoint commits to the ${count} telemetry batches received` }
    : {
        status: 'fail',
        detail: `the checkpoint names telemetry head ${toBase64(head).slice(0, 12)}… for batch ${count - 1}, the verifier received ${toBase64(stored).slice(0, 12)}…`,
      };
}

/** Most `tmb-telemetry` lines of one note checked ahead (a checkpoint may carry one: more fail anyway). */
const MAX_LINES = 4;

/**
 * The answers of checkTelemetryExtension for every `tmb-telemetry` line of a signed note's text,
 * read from the store before appraisal (which is synchronous: appraise/evidence.ts), as the
 * synchronous lookup the appraisal takes. A line not read ahead is `pending`.
 */
export async function telemetryExtensionView(
  store: TelemetryStore,
  agent: string,
  note: string,
): Promise<(line: string) => ExtensionCheck> {
  const found = new Map<string, ExtensionCheck>();
  for (const line of note.split('\n').filter(isTelemetryLine).slice(0, MAX_LINES))
    if (!found.has(line)) found.set(line, await checkTelemetryExtension(store, agent, line));
  return (line) =>
    found.get(line) ?? { status: 'pending', detail: 'the line was not read ahead of appraisal' };
}
