import type { Check, CoreErrorCode, Level, ReceiptBody, SignedReceipt, Verdict } from '@tmb/core';
import type { JWK } from 'jose';
import type { ClientErrorCode } from './errors.ts';

/** The verifier's result key as a JWK (GET /v1/verifier-key): an EC P-256 public key, with its `kid`. */
export type VerifierKey = JWK;

/** A check made by the client: core's Check, whose failure code may also be a client code. */
export type ClientCheck = Omit<Check, 'code'> & { code?: CoreErrorCode | ClientErrorCode };

/** What the client concluded about one exchange (docs/result.md). */
export interface ClientResult {
  /** From the `tmb-receipt-id` response header; null when the header was missing. */
  receiptId: string | null;
  /** The provider's request id: `x-request-id`, else the receipt's. */
  requestId: string | null;
  /**
   * The highest level every check of which passed (core `levelOf(checks, { client: true })`),
   * never above the level in the verifier's signed result. `none`: nothing is proven about this
   * answer, not even that an enrolled agent signed a receipt for these exact bytes (no verifier
   * configured, a check of the receipt, the bytes or the nonce failed, or the answer was changed).
   */
  level: Level;
  /** True when no check failed and the verifier's signed result says ok (`tmb.ok`). */
  ok: boolean;
  checks: ClientCheck[];
  /** What the host facts rest on, from the verifier's signed result; null without a TPM. */
  host?: unknown;
  /** The EK trust root of the agent's TPM, from the verifier's signed result; null without one. */
  tpm?: unknown;
  /** The receipt as the verifier returned it, when it did. */
  receipt?: SignedReceipt;
  /** Its decoded body, when it decoded. */
  body?: ReceiptBody;
  /** The verifier's verdict as it arrived: unsigned, for display only (level, ok and checks
   * above come from the signed result). */
  verdict?: Verdict;
  /** The verifier's signed EAR result (a JWT), when it sent one. */
  result?: string;
}

/** Options of createVerifiedFetch. */
export interface VerifiedFetchOptions {
  /** The verifier to ask, e.g. `https://verifier.example`. Left out: no verifier is asked and
   * every result is level `none` with `verifier.source` failed (VERIFIER_NOT_CONFIGURED). The
   * provider's `tmb-receipt-url` header is never used to choose one: a verifier the provider
   * picks can say anything. */
  verifierUrl?: string;
  /** The fetch that does the work. Default: globalThis.fetch. */
  fetch?: typeof fetch;
  /** The verifier's result key (GET /v1/verifier-key), pinned: obtained out of band, not from
   * the network path it protects. Level, ok and the verifier's checks are read only from the EAR
   * result it signs (`verifier.result`). Left out: `verifier.result` fails
   * (VERIFIER_NOT_CONFIGURED) and the level is `none`. */
  verifierKey?: VerifierKey;
  /** How long the verifier may hold the receipt request for a receipt not pushed yet. Default 10 s. */
  waitMs?: number;
  /**
   * How long to wait for a TPM-quoted checkpoint to cover the receipt (the verifier's
   * `receipt.included` is `asserted` until one does, or, for an agent with no activated AK yet,
   * until its inclusion deadline passes; agents quote about once a second). Default 0:
   * answer at once, at L0 until covered. 3000 lets an attested agent's answer reach L1.
   */
  waitForQuoteMs?: number;
  /** Extra time allowed for the verifier call beyond waitMs. Default 10 s. */
  timeoutMs?: number;
  /** Called with each result once the response body has been read to its end. Errors it
   * throws are ignored, so a bad callback cannot break the caller's request. */
  onResult?: (result: ClientResult, response: Response) => void;
}
