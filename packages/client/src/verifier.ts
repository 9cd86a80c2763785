import { type ReceiptBody, readBoundedText, type SignedReceipt, type Verdict } from '@tmb/core';
import type { AnswerAttestation } from './inclusion.ts';
import type { ClientCheck } from './types.ts';

/** Largest verifier answer read (a receipt, its verdict and proofs are a few KiB). */
const MAX_ANSWER_BYTES = 4 * 1024 * 1024;

/** What GET /v1/receipts/:id answers (docs/api.md), as far as the client relies on it. */
export interface VerifierAnswer {
  receipt: SignedReceipt;
  body: ReceiptBody | null;
  agentKey: string | null;
  verdict: Verdict;
  result?: string;
  /** The quoted checkpoint and inclusion proof, once a quote covers the receipt (untrusted). */
  attestation?: AnswerAttestation;
}

/**
 * Where to ask for a receipt. Always the client's choice (its `verifierUrl`): the provider's
 * `tmb-receipt-url` header is never used to pick a verifier.
 */
export interface ReceiptSource {
  url: string;
  chosenBy: 'client';
}

/**
 * Asks the verifier for a receipt, long-polling up to `waitMs` for one not pushed yet.
 * Returns the answer and a `verifier.answer` check; never throws.
 */
export async function fetchReceipt(
  fetchImpl: typeof fetch,
  source: ReceiptSource,
  waitMs: number,
  timeoutMs: number,
): Promise<{ answer: VerifierAnswer | null; check: ClientCheck }> {
  const url = new URL(source.url);
  url.searchParams.set('wait', String(waitMs));
  const name = 'verifier.answer';
  let res: Response;
  let json: unknown;
  try {
    res = await fetchImpl(url, {
      headers: { accept: 'application/json' },
      signal: AbortSignal.timeout(waitMs + timeoutMs),
    });
    json = JSON.parse(await readBoundedText(res, MAX_ANSWER_BYTES));
  } catch (err) {
    const timeout = err instanceof Error && err.name === 'TimeoutError';
    return {
      answer: null,
      check: {
        name,
        status: 'fail',
        code: timeout ? 'VERIFIER_TIMEOUT' : 'VERIFIER_UNREACHABLE',
        detail: timeout
          ? `no answer from ${url.origin} within ${waitMs + timeoutMs} ms`
          : `could not read an answer from ${url.origin}: ${err instanceof Error ? err.message : String(err)}`,
      },
    };
  }
  if (res.status === 404) {
    return {
      answer: null,
      check: {
        name,
        status: 'fail',
        code: 'RECEIPT_NOT_FOUND',
        detail: `${url.origin} has no such receipt after waiting ${waitMs} ms`,
      },
    };
  }
  if (res.status !== 200 || !isAnswer(json)) {
    return {
      answer: null,
      check: {
        name,
        status: 'fail',
        code: 'VERIFIER_ANSWER_INVALID',
        detail: `${url.origin} answered ${res.status} without a receipt and verdict`,
      },
    };
  }
  return { answer: json, check: { name, status: 'pass', detail: `receipt and verdict from ${url.origin}` } };
}

function isAnswer(v: unknown): v is VerifierAnswer {
  if (typeof v !== 'object' || v === null) return false;
  const a = v as Record<string, unknown>;
  const verdict = a.verdict as Record<string, unknown> | null | undefined;
  return (
    typeof a.receipt === 'object' &&
    a.receipt !== null &&
    (a.agentKey === null || typeof a.agentKey === 'string') &&
    typeof verdict === 'object' &&
    verdict !== null &&
    Array.isArray(verdict.checks)
  );
}
