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
  type ReceiptBodyV1,
  type ReceiptBodyV2,
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

const base: ReceiptBodyV1 = {
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
const vector = (
  description: string,
  body: Uint8Array,
  sig: Uint8Array,
  expect: string,
  // For valid v2 vectors: what receiptClientNonce and receiptServed must return.
  decoded?: { clientNonce: string | null; served: { weights: string | null; engine: string | null } },
) => ({
  description,
  body: toBase64Url(body),
  bodyText: Buffer.from(body).toString('utf8'),
  sig: toBase64Url(sig),
  expect,
  ...decoded,
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
const v3 = utf8(canonicalJson({ ...base, v: 3 } as never));
const extra = utf8(canonicalJson({ ...base, extra: 1 } as never));

// Version 2: the client's nonce (base64url of 32 bytes 0x01..0x20) and what served the request.
const nonce = toBase64Url(Uint8Array.from({ length: 32 }, (_, i) => i + 1));
const served = {
  weights: '5f0e6c1d2b3a49588766a5b4c3d2e1f05f0e6c1d2b3a49588766a5b4c3d2e1f0',
  engine: '9a8b7c6d5e4f30211203f4e5d6c7b8a99a8b7c6d5e4f30211203f4e5d6c7b8a9',
};
const baseV2: ReceiptBodyV2 = {
  ...base,
  v: 2,
  id: '0123456789abcdef0123456789abcdef',
  seq: 43,
  client: { nonce },
  served,
};
const goodV2 = encodeReceiptBody(baseV2);
const bareV2 = encodeReceiptBody({
  ...baseV2,
  id: 'fedcba9876543210fedcba9876543210',
  seq: 44,
  client: { nonce: null },
  served: { weights: null, engine: null },
});
// The nonce's first character changed (A -> B): the client's own value no longer matches, nor the signature.
const otherNonce = Uint8Array.from(goodV2);
otherNonce[goodV2.indexOf(0x41)] = 0x42;
const raw = (b: object) => utf8(canonicalJson(b as never));
const without = (b: object, k: string) => {
  const copy: Record<string, unknown> = { ...b };
  delete copy[k];
  return copy;
};
const v2Bad = {
  unknownInClient: raw({ ...baseV2, client: { nonce, extra: 1 } }),
  shortNonce: raw({ ...baseV2, client: { nonce: nonce.slice(0, 15) } }),
  paddedNonce: raw({ ...baseV2, client: { nonce: `${nonce}=` } }),
  prefixedDigest: raw({ ...baseV2, served: { ...served, weights: `sha256:${served.weights}` } }),
  noClient: raw(without(baseV2, 'client')),
  v1WithV2Fields: raw({ ...baseV2, v: 1 }),
};

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
    vector('version 3 is not readable by this verifier', v3, signed(v3), 'RECEIPT_VERSION_UNSUPPORTED'),
    vector('an unknown field', extra, signed(extra), 'RECEIPT_MALFORMED'),
    vector(
      'v2: a streamed completion with the client nonce and served digests',
      goodV2,
      signed(goodV2),
      'valid',
      {
        clientNonce: nonce,
        served,
      },
    ),
    vector('v2: no client nonce, nothing measured', bareV2, signed(bareV2), 'valid', {
      clientNonce: null,
      served: { weights: null, engine: null },
    }),
    vector('v2: the nonce changed after signing', otherNonce, signed(goodV2), 'RECEIPT_SIGNATURE_INVALID'),
    ...(
      [
        ['v2: an unknown field in client', v2Bad.unknownInClient],
        ['v2: a nonce of 15 characters', v2Bad.shortNonce],
        ['v2: a nonce with base64 padding', v2Bad.paddedNonce],
        ['v2: a weights digest written sha256:<hex>', v2Bad.prefixedDigest],
        ['v2: no client member', v2Bad.noClient],
        ['v1 with the v2 members', v2Bad.v1WithV2Fields],
      ] as const
    ).map(([d, b]) => vector(d, b, signed(b), 'RECEIPT_MALFORMED')),
  ],
};
const path = new URL('../packages/core/test/vectors/receipt/vectors.json', import.meta.url);
await writeFile(path, `${JSON.stringify(out, null, 2)}\n`);
process.stdout.write(`wrote ${path.pathname}\n`);
