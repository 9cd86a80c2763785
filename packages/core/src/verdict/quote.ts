import type { Check } from './types.ts';

/**
 * Which of `verifyQuote`'s checks (tpm/quote.ts) make each quote check of a verdict
 * (docs/result.md, "quote.*"): the verifier and the client's bundle check both name them this way.
 */
export const QUOTE_CHECK_SOURCES = {
  'quote.signature': [
    'tpm.ak.public',
    'tpm.ak.enrolled',
    'tpm.ak.attributes',
    'tpm.quote.format',
    'tpm.quote.magic',
    'tpm.quote.type',
    'tpm.quote.signature',
  ],
  'quote.nonce': ['tpm.quote.nonce'],
  'quote.clock': ['tpm.quote.safe', 'tpm.quote.clock'],
  'quote.pcr_digest': ['tpm.quote.pcrs'],
} as const satisfies Record<string, readonly string[]>;

/** The name of a verdict's quote check. */
export type QuoteCheckName = keyof typeof QUOTE_CHECK_SOURCES;

/** The first failed check among `sources`, under the name `name`, else a pass with `detail`. */
export function firstFailure(
  all: readonly Check[],
  sources: readonly string[],
  name: string,
  detail: string,
): Check {
  const f = all.find((c) => sources.includes(c.name) && c.status === 'fail');
  return f ? { ...f, name } : { name, status: 'pass', detail };
}

/** The verdict's quote check `name` from `verifyQuote`'s checks `all`, with `detail` when it passed. */
export function quoteCheck(all: readonly Check[], name: QuoteCheckName, detail: string): Check {
  return firstFailure(all, QUOTE_CHECK_SOURCES[name], name, detail);
}
