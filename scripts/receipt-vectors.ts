/**
 * Regenerates packages/core/test/vectors/receipt/vectors.json: receipt test vectors for a second
 * implementation (docs/receipt.md). Deterministic: the Ed25519 key comes from a fixed seed and
 * Ed25519 signatures are deterministic (RFC 8032).
 *   node_modules/.bin/node scripts/receipt-vectors.ts
 */
import { createPrivateKey, createPublicKey, sign } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import {
  agentKeyId,
  canonicalJson,
  ed25519Raw,
  encodeReceiptBody,
  type ReceiptBody,
  receiptSigningMessage,
  toBase64Url,
  toHex,
  utf8,
} from '@tmb/core';

// PKCS#8 prefix for an Ed25519 private key seed (RFC 8410 section 7).
const PKCS8 = Buffer.from('302e020100300506032b657004220420', 'hex');
const seed = Buffer.alloc(32, 0x42);
const privateKey = createPrivateKey({ key: Buffer.concat([PKCS8, seed]), format: 'der', type: 'pkcs8' });
const publicKey = ed25519Raw(createPublicKey(privateKey));
const key = agentKeyId(publicKey);

const base: ReceiptBody = {
  v: 1,
  type: 'tmb.receipt',
  id: '00112233445566778899aabbccddeeff',
  agent: 'gpu-host-01',
  key,
  seq: 41,
  request: {
    id: 'req-7f3a',
    method: 'POST',
    path: '/v1/chat/completions',
    bytes: 62,
    sha256: 'a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90',
  },
  response: {
    status: 200,
    upstreamStatus: 200,
    stream: true,
    bytes: 1834,
    sha256: '0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0',
  },
  model: { requested: 'llama-3.1-70b-instruct', reported: 'llama-3.1-70b-instruct' },
  usage: { prompt: 12, completion: 97, total: 109 },
  time: { start: 1795600000000000, firstByte: 1795600000183250, end: 1795600002051999 },
  outcome: 'complete',
};

const signed = (b: Uint8Array) => new Uint8Array(sign(null, receiptSigningMessage(b), privateKey));
const vector = (description: string, body: Uint8Array, sig: Uint8Array, expect: string) => ({
  description,
  body: toBase64Url(body),
  bodyText: Buffer.from(body).toString('utf8'),
  sig: toBase64Url(sig),
  expect,
});

const good = encodeReceiptBody(base);
const aborted = encodeReceiptBody({
  ...base,
  id: 'ffeeddccbbaa99887766554433221100',
  seq: 42,
  response: { ...base.response, status: 200, bytes: 311 },
  model: { requested: 'llama-3.1-70b-instruct', reported: null },
  usage: { prompt: null, completion: null, total: null },
  time: { start: 1795600003000000, firstByte: null, end: 1795600003500000 },
  outcome: 'client_aborted',
});
const flipped = Uint8Array.from(good);
flipped[good.indexOf(0x39)] = 0x38; // the first digit 9 becomes 8: still well-formed, no longer what was signed
const spaced = utf8(canonicalJson(base as never).replace('{"agent"', '{ "agent"'));
const v2 = utf8(canonicalJson({ ...base, v: 2 } as never));
const extra = utf8(canonicalJson({ ...base, extra: 1 } as never));

const out = {
  note: 'Made by scripts/receipt-vectors.ts; docs/receipt.md explains each field.',
  publicKey: toBase64Url(publicKey),
  publicKeyHex: toHex(publicKey),
  keyId: key,
  signingPrefix: 'tmb.receipt.v1\\n',
  vectors: [
    vector('a complete streamed chat completion', good, signed(good), 'valid'),
    vector('a stream the client left early', aborted, signed(aborted), 'valid'),
    vector('one digit of the body changed after signing', flipped, signed(good), 'RECEIPT_SIGNATURE_INVALID'),
    vector('whitespace added: JSON, but not canonical', spaced, signed(spaced), 'RECEIPT_NOT_CANONICAL'),
    vector('version 2 is not readable by a v1 verifier', v2, signed(v2), 'RECEIPT_VERSION_UNSUPPORTED'),
    vector('an unknown field', extra, signed(extra), 'RECEIPT_MALFORMED'),
  ],
};
const path = new URL('../packages/core/test/vectors/receipt/vectors.json', import.meta.url);
await writeFile(path, `${JSON.stringify(out, null, 2)}\n`);
process.stdout.write(`wrote ${path.pathname}\n`);
