import type { ClientResult } from '@tmb/client';
import type { Level } from '@tmb/core';
import { NO_SAMPLES_YET } from './chat-settle.ts';

/** One failed check of a verdict, as `tmb chat` prints it. */
export interface FailedCheck {
  name: string;
  code?: string;
  detail: string;
}

/**
 * One turn of `tmb chat`: the answer and what the client concluded about it. With `--json` this
 * is the object printed per turn (docs/cli.md, "tmb chat").
 */
export interface Turn {
  /** The assistant's text, as received (for a stream, the deltas joined). */
  answer: string;
  /** From the `tmb-receipt-id` header; null when the answer came without one (no agent). */
  receiptId: string | null;
  /** The provider's request id (x-request-id), else the receipt's. */
  requestId: string | null;
  /** The agent (host) that signed the receipt, from the receipt the client checked. */
  agent: string | null;
  /** The model the model server reported, from the signed receipt. */
  model: string | null;
  /** The digest of the weights the agent says served the answer (a v2 receipt), or null. */
  weights: string | null;
  /** The client's level (@tmb/client): never above the verifier's signed one. */
  level: Level;
  /** No check failed and the verifier's signed result says ok. */
  ok: boolean;
  /** True when, after --wait, the verdict could still change: the verifier had no receipt yet,
   * or no TPM quote covered it yet. `tmb verify RECEIPT-ID` checks it later. */
  pending: boolean;
  /** Why it is pending, in words; null when it is not. */
  pendingWhy: string | null;
  failed: FailedCheck[];
}

/**
 * The turn the client's result describes. `pending` is read from the verifier's unsigned
 * verdict (as @tmb/client decides whether to ask again): it only says "ask later", it never
 * raises the level or hides a failed check.
 */
export function turnOf(answer: string, r: ClientResult): Turn {
  const failed = r.checks
    .filter((c) => c.status === 'fail')
    .map((c) => ({ name: c.name, ...(c.code ? { code: c.code } : {}), detail: c.detail }));
  const notFound = r.checks.some((c) => c.name === 'verifier.answer' && c.code === 'RECEIPT_NOT_FOUND');
  const unquoted =
    r.verdict?.checks.some((c) => c.name === 'receipt.included' && c.status === 'asserted') === true;
  const noSamples = r.checks.some(
    (c) => c.name === 'telemetry.consistent' && c.status === 'skipped' && c.detail.includes(NO_SAMPLES_YET),
  );
  const pendingWhy = notFound
    ? 'the verifier has no receipt of this answer yet'
    : unquoted
      ? 'no TPM quote covers the receipt yet (or, for an agent without a TPM, its inclusion deadline has not passed)'
      : noSamples
        ? 'the GPU samples around the answer have not reached the verifier yet'
        : null;
  const body = r.body;
  return {
    answer,
    receiptId: r.receiptId,
    requestId: r.requestId,
    agent: body?.agent ?? null,
    model: body?.model.reported ?? body?.model.requested ?? null,
    weights: body !== undefined && body.v === 2 && body.served.weights !== null ? body.served.weights : null,
    level: r.level,
    ok: r.ok,
    pending: pendingWhy !== null,
    pendingWhy,
    // A receipt not pushed yet is pending, not a failure of the answer.
    failed: notFound ? failed.filter((c) => c.name !== 'verifier.answer') : failed,
  };
}

/** Where `tmb verify` would ask later, for the pending line. */
export interface VerifyHint {
  verifier: string;
  keyFile: string;
}

/**
 * The verdict of a turn in one or two short lines: level, host, model, weights and receipt; then
 * the failed checks by name (with their codes), or why it is still pending and how to check later.
 */
export function verdictLines(t: Turn, waitS: number, hint: VerifyHint): string {
  if (t.receiptId === null)
    return '[tmb] level none: NO RECEIPT (RECEIPT_HEADER_MISSING): this answer did not pass through a TMB agent, so nothing about it can be checked\n';
  const state = t.pending ? 'pending' : t.ok ? 'ok' : 'NOT OK';
  const weights = t.weights === null ? '-' : `${t.weights.slice(0, 12)}…`;
  const head =
    `[tmb] level ${t.level} ${state} | host ${t.agent ?? '-'} | model ${t.model ?? '-'}` +
    ` | weights ${weights} | receipt ${t.receiptId}`;
  const lines = [head];
  if (t.failed.length > 0)
    lines.push(
      `[tmb] failed: ${t.failed.map((c) => (c.code ? `${c.name} (${c.code})` : c.name)).join(', ')}`,
    );
  if (t.pending)
    lines.push(
      `[tmb] pending after ${waitS} s: ${t.pendingWhy}; check later: tmb verify ${t.receiptId}` +
        ` --verifier ${hint.verifier} --verifier-key ${hint.keyFile}`,
    );
  return `${lines.join('\n')}\n`;
}

/** The `--json` line of a turn (pendingWhy left out: `pending` says it, the prose is for people). */
export function turnJson(t: Turn): string {
  const { pendingWhy: _, ...rest } = t;
  return `${JSON.stringify(rest)}\n`;
}
