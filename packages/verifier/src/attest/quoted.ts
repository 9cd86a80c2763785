import { type Check, Lru, toHex } from '@tmb/core';
import { type CheckpointOpening, ed25519NoteVerifier, openCheckpoint } from '@tmb/core/log';
import { isTelemetryLine } from '@tmb/core/telemetry';
import type { ExtensionCheck } from '../telemetry/extension.ts';

/**
 * Successful openings of stored notes, by origin, key and the full note text. Every appraisal
 * reopened its agent's last quoted note (an Ed25519 check, ~1 % of a loaded verifier's CPU at
 * 2,000 agents): a note, key and origin seen to verify verify again, so a hit changes no answer.
 * Failures are never kept. One entry per agent's current note: 16,384 agents fit.
 */
const opened = new Lru<string, CheckpointOpening>(16_384);

/**
 * Opens a stored quoted checkpoint note again under the key that signed it, as signed: origin,
 * size, root and its extension lines come from the verified note, never rebuilt. Never throws:
 * a missing key is NOTE_NO_KNOWN_SIGNER, a bad note its own code.
 */
export function reopenQuoted(note: string, key: Uint8Array | undefined, origin: string): CheckpointOpening {
  if (key === undefined)
    return {
      ok: false,
      code: 'NOTE_NO_KNOWN_SIGNER',
      detail: 'the key that signed the checkpoint is unknown',
    };
  // Lengths first: no two (origin, key, note) triples share an id.
  const id = `${origin.length}:${origin}:${toHex(key)}:${note}`;
  const hit = opened.get(id);
  if (hit !== undefined) return hit;
  let r: CheckpointOpening;
  try {
    r = openCheckpoint(note, [ed25519NoteVerifier(origin, key)], origin);
  } catch {
    return { ok: false, code: 'NOTE_KEY_MALFORMED', detail: 'the stored signing key is not an Ed25519 key' };
  }
  if (r.ok) {
    // Shared by every caller from now on: frozen, so no caller can change another's answer.
    Object.freeze(r.checkpoint.extensions);
    Object.freeze(r.checkpoint);
    Object.freeze(r.verifiedBy);
    opened.set(id, Object.freeze(r));
  }
  return r;
}

/**
 * The `telemetry.chain` check of a quoted checkpoint (docs/evidence.md): its `tmb-telemetry
 * <count> <base64 head>` line against the telemetry batches the verifier received (`against`,
 * the verifier's checkTelemetryExtension). Skipped when the checkpoint has no such line (the
 * agent streams no telemetry); fails TELEMETRY_HEAD_MISMATCH when the line is malformed,
 * repeated or names another head than the one received, and TELEMETRY_HEAD_UNKNOWN when the
 * verifier has not received that batch (the agent pushes its telemetry before quoting).
 */
export function telemetryChainCheck(
  extensions: readonly string[],
  against: ((line: string) => ExtensionCheck) | undefined,
): Check {
  const name = 'telemetry.chain';
  const lines = extensions.filter(isTelemetryLine);
  if (lines.length === 0)
    return { name, status: 'skipped', detail: 'the checkpoint carries no tmb-telemetry line' };
  if (lines.length > 1)
    return {
      name,
      status: 'fail',
      code: 'TELEMETRY_HEAD_MISMATCH',
      detail: `${lines.length} tmb-telemetry lines, at most one allowed`,
    };
  if (against === undefined)
    return { name, status: 'skipped', detail: 'this verifier keeps no telemetry to check the line against' };
  const r = against(lines[0]!);
  if (r.status === 'pass') return { name, status: 'pass', detail: r.detail };
  return {
    name,
    status: 'fail',
    code: r.status === 'pending' ? 'TELEMETRY_HEAD_UNKNOWN' : 'TELEMETRY_HEAD_MISMATCH',
    detail: r.detail,
  };
}
