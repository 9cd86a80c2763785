import { readBoundedText } from '@tmb/core';
import type { ClientCheck } from '../types.ts';

/** Largest bundle read: the kernel log of a boot is most of it (BUNDLE_LIMITS.kernel, base64url). */
const MAX_BUNDLE_TEXT = 96 * 1024 * 1024;

/**
 * GET /v1/receipts/:id/bundle from the verifier at `verifierUrl` (docs/bundle.md). Returns the
 * bundle as parsed JSON (untrusted: verifyBundle checks it), or null with a failed
 * `verifier.answer` check: 404 RECEIPT_NOT_FOUND, 404 BUNDLE_NOT_READY (no quote covers the
 * receipt yet, or its agent has no TPM), or no answer. Never throws.
 */
export async function fetchBundle(
  fetchImpl: typeof fetch,
  verifierUrl: string,
  receiptId: string,
  timeoutMs: number,
): Promise<{ bundle: unknown; check: ClientCheck; notReady: boolean }> {
  const name = 'verifier.answer';
  const url = new URL(`${verifierUrl.replace(/\/+$/, '')}/v1/receipts/${receiptId}/bundle`);
  try {
    const res = await fetchImpl(url, {
      headers: { accept: 'application/json' },
      signal: AbortSignal.timeout(timeoutMs),
    });
    const json = JSON.parse(await readBoundedText(res, MAX_BUNDLE_TEXT)) as Record<string, unknown>;
    if (res.status === 200)
      return {
        bundle: json,
        check: { name, status: 'pass', detail: `bundle from ${url.origin}` },
        notReady: false,
      };
    const e = json.error as { code?: unknown; message?: unknown } | undefined;
    const code = e?.code === 'RECEIPT_NOT_FOUND' ? 'RECEIPT_NOT_FOUND' : 'VERIFIER_ANSWER_INVALID';
    return {
      bundle: null,
      check: {
        name,
        status: 'fail',
        code,
        detail: `${url.origin} answered ${res.status}: ${String(e?.message ?? '')}`,
      },
      notReady: e?.code === 'BUNDLE_NOT_READY',
    };
  } catch (err) {
    const timeout = err instanceof Error && err.name === 'TimeoutError';
    return {
      bundle: null,
      check: {
        name,
        status: 'fail',
        code: timeout ? 'VERIFIER_TIMEOUT' : 'VERIFIER_UNREACHABLE',
        detail: `no bundle from ${url.origin}: ${err instanceof Error ? err.message : String(err)}`,
      },
      notReady: false,
    };
  }
}
