/**
 * Offline bundle verification (issue 9): verifyBundle of one receipt with its full chain (the
 * committed vector of a real swtpm run, packages/client/test/vectors/bundle: EAR, receipt,
 * checkpoint with its TPM co-signature and certification, quote, EK chain, agent and kernel
 * logs, boot log, policy and registry) per second on one core, sequentially; target >= 2,000/s.
 * `verify_per_s`: a new quote of a known host (the quote's checks, logs and checkpoint derived
 * afresh; the host's keys, EK chain, certification and reference values shared);
 * `verify_new_host_per_s`: nothing shared; `verify_same_quote_per_s`: receipts judged by one
 * quote, as in a batch (bundle/memo.ts).
 * Baseline, in the same run: the bare signature checks the bundle contains, with ready keys:
 * the EAR (ES256), the receipt and the checkpoint (Ed25519), the quote, the checkpoint key's
 * certification and the checkpoint's TPM co-signature (ECDSA P-256; the co-signature is timed as
 * one more P-256 verification of the quote) and the EK certificate chain (X.509 signatures).
 */
import { createPublicKey, verify, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { verifyBundle } from '@tmb/client';
import { fromBase64Url, receiptSigningMessage } from '@tmb/core';
import { parseNote } from '@tmb/core/log';
import { parseSignature, parseTpm2bPublic, publicKeyOf } from '@tmb/core/tpm';
// Internal: the bench clears the memos to measure the first bundle of a host or of a quote.
import { clearBundleMemos } from '../packages/client/src/bundle/memo.ts';
import type { BenchRecord } from './record.ts';

const dir = new URL('../packages/client/test/vectors/bundle/', import.meta.url);
const read = (f: string) => readFileSync(new URL(f, dir), 'utf8');

/** Operations per second of `f` over about `ms` milliseconds (after a warm-up). */
async function perSecond(ms: number, f: () => unknown): Promise<number> {
  for (let i = 0; i < 50; i++) await f();
  let n = 0;
  const start = performance.now();
  let now = start;
  while (now - start < ms) {
    for (let i = 0; i < 20; i++) await f();
    n += 20;
    now = performance.now();
  }
  return (n * 1000) / (now - start);
}

function ecdsa(keyPublic: Uint8Array, sigBytes: Uint8Array, msg: Uint8Array): () => boolean {
  const key = publicKeyOf(parseTpm2bPublic(keyPublic));
  const sig = parseSignature(sigBytes) as { r: Uint8Array; s: Uint8Array };
  const raw = new Uint8Array([...sig.r, ...sig.s]);
  return () => verify('sha256', msg, { key, dsaEncoding: 'ieee-p1363' }, raw);
}

export async function* run(): AsyncGenerator<BenchRecord> {
  const bundle = JSON.parse(read('bundle.json'));
  const verifierKey = JSON.parse(read('verifier-key.json'));
  const ekRoots = [read('ek-roots.pem')];
  const opts = { verifierKey, ekRoots };
  const r = await verifyBundle(structuredClone(bundle), opts);
  if (r.level !== 'L1') throw new Error(`the vector verifies to ${r.level}`);
  const e = bundle.evidence;
  // The bare signature checks, keys ready.
  const [h, p, s] = (bundle.result as string).split('.') as [string, string, string];
  const earKey = createPublicKey({ key: verifierKey, format: 'jwk' });
  const earInput = Buffer.from(`${h}.${p}`);
  const earSig = fromBase64Url(s);
  const agentKey = createPublicKey({
    key: Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), fromBase64Url(e.agentKey)]),
    format: 'der',
    type: 'spki',
  });
  const body = fromBase64Url(e.receipt.body);
  const receiptMsg = receiptSigningMessage(body);
  const receiptSig = fromBase64Url(e.receipt.sig);
  const note = parseNote(e.inclusion.checkpoint);
  const noteSig = note.signatures[0]!.signature;
  const noteText = Buffer.from(note.text);
  const quote = ecdsa(
    fromBase64Url(e.ak.public),
    fromBase64Url(e.quote.signature),
    fromBase64Url(e.quote.attest),
  );
  const certify = ecdsa(
    fromBase64Url(e.ak.public),
    fromBase64Url(e.tpmKey.certify.signature),
    fromBase64Url(e.tpmKey.certify.attest),
  );
  const leaf = new X509Certificate(Buffer.from(e.ek.certificate, 'base64url'));
  const chain = ekRoots[0]!
    .split(/(?=-----BEGIN CERTIFICATE-----)/)
    .filter((x) => x.includes('BEGIN'))
    .map((pem) => new X509Certificate(pem));
  const issuer = chain.find((c) => leaf.checkIssued(c))!;
  const root = chain.find((c) => issuer.checkIssued(c))!;
  const bare = () => {
    const ok =
      verify('sha256', earInput, { key: earKey, dsaEncoding: 'ieee-p1363' }, earSig) &&
      verify(null, receiptMsg, agentKey, receiptSig) &&
      verify(null, noteText, agentKey, noteSig) &&
      quote() &&
      certify() &&
      quote() &&
      leaf.verify(issuer.publicKey) &&
      issuer.verify(root.publicKey);
    if (!ok) throw new Error('a bare signature check failed');
  };
  const full = async () => {
    const x = await verifyBundle(bundle, opts);
    if (x.level !== 'L1') throw new Error('verifyBundle failed');
  };
  const base = await perSecond(2000, bare);
  // A new host: nothing derived yet (keys, EK chain, certification, reference values, the quote).
  const cold = await perSecond(2000, () => {
    clearBundleMemos();
    return full();
  });
  // A new quote of a known host: the receipt with its full chain, host derivations shared.
  const value = await perSecond(3000, () => {
    clearBundleMemos('quote');
    return full();
  });
  // Receipts judged by one quote (a batch): only the per-receipt checks are new.
  const batch = await perSecond(2000, full);
  yield { bench: 'bundle', metric: 'verify_per_s', value, unit: '1/s', baseline: base };
  yield { bench: 'bundle', metric: 'verify_us', value: 1e6 / value, unit: 'us', baseline: 1e6 / base };
  yield { bench: 'bundle', metric: 'verify_new_host_per_s', value: cold, unit: '1/s', baseline: base };
  yield { bench: 'bundle', metric: 'verify_same_quote_per_s', value: batch, unit: '1/s', baseline: base };
  yield {
    bench: 'bundle',
    metric: 'bundle_bytes',
    value: Buffer.byteLength(JSON.stringify(bundle)),
    unit: 'B',
    baseline: null,
  };
}
