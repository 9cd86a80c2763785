/**
 * Quote verification (issue 3): microseconds to verify one tpm2_quote quote with verifyQuote (parse
 * the AK public area, attestation, signature and PCR file, check every field, verify the signature;
 * target <= 1 ms), against a bare signature verification of the same bytes with a ready KeyObject
 * measured in the same run; `_enrolled_ak` holds the AK's parsed public area as a verifier does. Uses the committed swtpm vectors (packages/core/test/vectors/tpm).
 */

import { verify } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fromHex } from '@tmb/core';
import { parseSignature, parseTpm2bPublic, publicKeyOf, verifyQuote } from '@tmb/core/tpm';
import type { BenchRecord } from './record.ts';

const dir = new URL('../packages/core/test/vectors/tpm/', import.meta.url).pathname;
const read = (f: string) => new Uint8Array(readFileSync(dir + f));

/** Mean microseconds per call of `op` over about `ms` milliseconds, after a warm-up. */
function micros(ms: number, op: () => void): number {
  for (let i = 0; i < 200; i++) op();
  let n = 0;
  const start = performance.now();
  let now = start;
  while (now - start < ms) {
    for (let k = 0; k < 32; k++) op();
    n += 32;
    now = performance.now();
  }
  return ((now - start) * 1000) / n;
}

export async function* run(): AsyncGenerator<BenchRecord> {
  for (const kind of ['ecc256', 'rsassa'] as const) {
    const q = {
      akPublic: read(`${kind}/ak.pub`),
      attest: read(`${kind}/quote1.msg`),
      signature: read(`${kind}/quote1.sig`),
      pcrs: read(`${kind}/quote1.pcrs`),
      expectedQualifyingData: fromHex(readFileSync(`${dir}${kind}/quote1.nonce`, 'utf8').trim()),
    };
    if (!verifyQuote(q).ok) throw new Error(`${kind} vector does not verify`);
    const key = publicKeyOf(parseTpm2bPublic(q.akPublic));
    const sig = parseSignature(q.signature);
    const raw =
      sig.sigAlg === 0x0018 ? new Uint8Array([...sig.r, ...sig.s]) : (sig as { sig: Uint8Array }).sig;
    const options = sig.sigAlg === 0x0018 ? { key, dsaEncoding: 'ieee-p1363' as const } : key;
    const bare = micros(500, () => {
      if (!verify('sha256', q.attest, options, raw)) throw new Error('bare verify failed');
    });
    const full = micros(500, () => {
      if (!verifyQuote(q).ok) throw new Error('verifyQuote failed');
    });
    // As the verifier does it: the enrolled AK parsed once, every quote's bytes parsed and checked.
    const enrolled = { ...q, akPublic: parseTpm2bPublic(q.akPublic) };
    const held = micros(500, () => {
      if (!verifyQuote(enrolled).ok) throw new Error('verifyQuote failed');
    });
    yield { bench: 'quote', metric: `verify_${kind}_us`, value: full, unit: 'us', baseline: bare };
    yield {
      bench: 'quote',
      metric: `verify_${kind}_enrolled_ak_us`,
      value: held,
      unit: 'us',
      baseline: bare,
    };
  }
}
