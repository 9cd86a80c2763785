import { agentKeyId, type Check, checkSignedReceipt, type Level, levelOf, minLevel } from '@tmb/core';
import type { JWK } from 'jose';
import { bindingCheck, boundKey } from './bound.ts';
import { type BundleResult, fetchBundle, verifyBundle } from './bundle/index.ts';
import { verifyResult } from './ear.ts';
import type { ClientCheck } from './types.ts';
import { fetchReceipt } from './verifier.ts';

/** Options of verifyReceipt. */
export interface VerifyReceiptOptions {
  /** The verifier to ask, e.g. `https://verifier.example`. Required. */
  verifierUrl: string;
  /** The verifier's result key (JWK, GET /v1/verifier-key), obtained out of band. Required. */
  verifierKey: JWK;
  /** Trusted EK root CAs (PEM), as in verifyBundle. Left out: the level stays below L1. */
  ekRoots?: readonly string[];
  /** The fetch that does the work. Default: globalThis.fetch. */
  fetch?: typeof fetch;
  /**
   * How long the verifier may hold the request for a receipt not pushed yet, when no bundle is
   * there. Default 0: ask once. Given (> 0), the signed result is asked for even when the
   * verifier answered that it has no such receipt: it may arrive while the request waits.
   */
  waitMs?: number;
  /** How long each request to the verifier may take beyond waitMs. Default 15 s. */
  timeoutMs?: number;
  /** The time results are checked against. Left out: a bundle's issue time is not checked. */
  now?: Date;
}

/** What verifyReceipt concluded (docs/bundle.md, docs/result.md). */
export interface ReceiptResult {
  receiptId: string | null;
  /** `bundle`: every check re-run here from the bundle; `verifier`: the verifier's signed result. */
  source: 'bundle' | 'verifier';
  /** Recomputed here, and never above the level the verifier signed. */
  level: Level;
  /** True when no check failed and the verifier's signed verdict was ok. */
  ok: boolean;
  checks: ClientCheck[];
  /** The bundle the verifier sent (untrusted JSON, judged by `checks`), or null when none. */
  bundle: unknown;
}

/**
 * Checks a receipt the verifier holds, by its id, with no exchange bytes to compare (an auditor,
 * `tmb verify`). Asks for the receipt's offline evidence bundle and re-runs every check of it
 * here (verifyBundle). Until a quote covers the receipt (or for an agent without a TPM) there is
 * no bundle: then the verifier's signed result is checked, the receipt's signature is checked
 * here under the agent key that result names, and the rest is the verifier's word ("per the
 * verifier"). Never throws for bad or missing evidence: every failure is a named check.
 */
export async function verifyReceipt(
  receiptId: string,
  options: VerifyReceiptOptions,
): Promise<ReceiptResult> {
  const fetchImpl = options.fetch ?? globalThis.fetch;
  const waitMs = options.waitMs ?? 0;
  const timeoutMs = options.timeoutMs ?? 15_000;
  const b = await fetchBundle(fetchImpl, options.verifierUrl, receiptId, timeoutMs);
  if (b.bundle !== null) {
    const r = await verifyBundle(b.bundle, {
      verifierKey: options.verifierKey,
      receiptId,
      ...(options.ekRoots === undefined ? {} : { ekRoots: options.ekRoots }),
      ...(options.now === undefined ? {} : { now: options.now }),
    });
    return { ...fromBundle(r), bundle: b.bundle };
  }
  if (!b.notReady && waitMs === 0)
    return { receiptId, source: 'verifier', level: 'none', ok: false, checks: [b.check], bundle: null };
  return { ...(await fromResult(fetchImpl, receiptId, options, waitMs, timeoutMs)), bundle: null };
}

/** A bundle's result as a ReceiptResult, less the bundle. */
function fromBundle(r: BundleResult): Omit<ReceiptResult, 'bundle'> {
  return { receiptId: r.receiptId, source: 'bundle', level: r.level, ok: r.ok, checks: r.checks };
}

/**
 * No bundle yet: the verifier's answer, whose signed result gives the level and checks (the
 * verifier's word), checked against the receipt and key it binds; the receipt's signature is
 * checked here.
 */
async function fromResult(
  fetchImpl: typeof fetch,
  id: string,
  options: VerifyReceiptOptions,
  waitMs: number,
  timeoutMs: number,
): Promise<Omit<ReceiptResult, 'bundle'>> {
  const url = `${options.verifierUrl.replace(/\/+$/, '')}/v1/receipts/${id}`;
  const a = await fetchReceipt(fetchImpl, { url, chosenBy: 'client' }, waitMs, timeoutMs);
  const checks: ClientCheck[] = [a.check];
  const fail = () => ({
    receiptId: id,
    source: 'verifier' as const,
    level: 'none' as const,
    ok: false,
    checks,
  });
  if (a.answer === null) return fail();
  const r = await verifyResult(
    a.answer.result,
    options.verifierKey,
    id,
    options.now === undefined ? {} : { now: options.now },
  );
  checks.push(r.check);
  if (r.bound === null) return fail();
  const bound = r.bound;
  const key = boundKey(bound.agentKey);
  const own = checkSignedReceipt(a.answer.receipt, (kid) =>
    key !== undefined && agentKeyId(key) === kid ? key : undefined,
  );
  checks.push(
    bindingCheck(bound, {
      receiptBytes: own.bytes ?? new Uint8Array(0),
      agentKey: a.answer.agentKey,
      attestation: a.answer.attestation,
    }).check,
    ...own.checks,
  );
  if (own.body !== null) checks.push(idCheck(id, own.body.id));
  const mine = new Set(checks.map((c) => c.name));
  for (const c of bound.checks)
    if (!mine.has(c.name)) checks.push({ ...c, detail: `per the verifier: ${c.detail}` } as ClientCheck);
  return {
    receiptId: id,
    source: 'verifier',
    level: minLevel(levelOf(checks as Check[]), bound.level),
    ok: bound.ok && checks.every((c) => c.status !== 'fail'),
    checks,
  };
}

/** `receipt.id`: the receipt the verifier answered is the one asked for. */
function idCheck(asked: string, got: string): ClientCheck {
  return asked === got
    ? { name: 'receipt.id', status: 'pass', detail: `receipt ${asked} is the one asked for` }
    : {
        name: 'receipt.id',
        status: 'fail',
        code: 'RECEIPT_ID_MISMATCH',
        detail: `asked for ${asked}, the verifier answered ${got}`,
      };
}
