import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { type CanonicalValue, canonicalBytes, L1_CHECKS, sha256, toHex } from '@tmb/core';
import fc from 'fast-check';
import { decodeJwt, SignJWT } from 'jose';
import { type Bundle, verifyBundle } from '../src/index.ts';

// The offline bundle (docs/bundle.md): the vectors are a real swtpm run's bundles, made by
// test/vectors/bundle/make.ts through the verifier's GET /v1/receipts/:id/bundle.

const dir = new URL('./vectors/bundle/', import.meta.url);
const read = (f: string) => readFileSync(new URL(f, dir), 'utf8');
const VECTOR = JSON.parse(read('bundle.json')) as Bundle;
const FIRST = JSON.parse(read('bundle-first.json')) as Bundle;
const KEY = JSON.parse(read('verifier-key.json')) as JsonWebKey & { kid: string };
const ROOTS = [read('ek-roots.pem')];
const opts = { verifierKey: KEY, ekRoots: ROOTS };

// No network: any fetch during these tests is a failure.
const realFetch = globalThis.fetch;
before(() => {
  globalThis.fetch = () => Promise.reject(new Error('verifyBundle used the network'));
});
after(() => {
  globalThis.fetch = realFetch;
});

const status = (r: { checks: { name: string; status: string }[] }, name: string) =>
  r.checks.find((c) => c.name === name)?.status;

test('the vector bundle verifies offline to L1, every L1 and host check checked here', async () => {
  for (const b of [VECTOR, FIRST]) {
    const r = await verifyBundle(structuredClone(b), opts);
    assert.equal(r.level, 'L1', JSON.stringify(r.checks.filter((c) => c.status !== 'pass')));
    assert.equal(r.ok, true);
    for (const name of L1_CHECKS) assert.equal(status(r, name), 'pass', name);
    for (const name of ['weights.allowed', 'host.engine', 'host.agent', 'verifier.evidence'])
      assert.equal(status(r, name), 'pass', name);
    // The quote, logs, inclusion and host checks are the client's own, not the verifier's word.
    for (const name of ['quote.signature', 'log.replay', 'receipt.included', 'host.integrity', 'host.boot'])
      assert.match(r.checks.find((c) => c.name === name)!.detail, /^checked here/);
  }
  // The second quote's bundle carries the previous quoted checkpoint and checks consistency.
  const r = await verifyBundle(structuredClone(VECTOR), opts);
  assert.match(
    r.checks.find((c) => c.name === 'checkpoint.consistent')!.detail,
    /^checked here: size 3 -> 5/,
  );
});

test('without EK roots the EK chain is the verifier word: asserted, so L0', async () => {
  const r = await verifyBundle(structuredClone(VECTOR), { verifierKey: KEY });
  assert.equal(status(r, 'host.ek_certificate'), 'asserted');
  assert.equal(r.level, 'L0');
  assert.equal(r.ok, true);
});

test('a bundle under another verifier key, or not a bundle, is a named failure at level none', async () => {
  const other = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'jwk' });
  const r = await verifyBundle(structuredClone(VECTOR), { verifierKey: other, ekRoots: ROOTS });
  assert.equal(status(r, 'verifier.result'), 'fail');
  assert.equal(r.level, 'none');
  assert.equal(r.ok, false);
  for (const v of [null, 1, 'x', [], {}, { ...VECTOR, v: 2 }, { ...VECTOR, extra: 1 }]) {
    const x = await verifyBundle(v, opts);
    assert.equal(x.checks[0]!.code, 'BUNDLE_MALFORMED');
    assert.equal(x.level, 'none');
  }
});

// --- Byte flips --------------------------------------------------------------------------

type Path = (string | number)[];

/** Every string leaf's path in a JSON value. */
function leaves(v: unknown, at: Path = [], out: Path[] = []): Path[] {
  if (typeof v === 'string') out.push(at);
  else if (Array.isArray(v)) for (const [i, x] of v.entries()) leaves(x, [...at, i], out);
  else if (typeof v === 'object' && v !== null)
    for (const [k, x] of Object.entries(v)) leaves(x, [...at, k], out);
  return out;
}

function get(v: unknown, p: Path): unknown {
  return p.reduce<unknown>((o, k) => (o as Record<string | number, unknown>)[k], v);
}

function set(v: unknown, p: Path, x: unknown): void {
  const parent = get(v, p.slice(0, -1)) as Record<string | number, unknown>;
  parent[p.at(-1)!] = x;
}

const B64U = /^[A-Za-z0-9_-]+$/;

/** The leaf with one byte-group changed: a decoded byte for base64url, else one character. */
function flip(s: string, pos: number, by: number): string {
  if (B64U.test(s) && s.length % 4 !== 1 && s.length >= 16 && !/^[0-9a-f]+$/.test(s)) {
    const b = Buffer.from(s, 'base64url');
    if (b.length > 0 && b.toString('base64url') === s) {
      b[pos % b.length]! ^= by || 1;
      return b.toString('base64url');
    }
  }
  if (s.length === 0) return 'x';
  const i = pos % s.length;
  const c = s.charCodeAt(i);
  const hexish = /[0-9a-f]/.test(s[i]!);
  const next = hexish
    ? '0123456789abcdef'[(Number.parseInt(s[i]!, 16) + (by % 15) + 1) % 16]!
    : String.fromCharCode(c === 0x7e ? 0x21 : c + 1);
  return s.slice(0, i) + next + s.slice(i + 1);
}

const PATHS = leaves(VECTOR);

test('a byte flipped anywhere in the bundle is a named failure, never a pass, never a throw', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.constantFrom(...PATHS),
      fc.nat(),
      fc.integer({ min: 1, max: 255 }),
      async (p, pos, by) => {
        const b = structuredClone(VECTOR) as unknown;
        const before = get(b, p) as string;
        const after = flip(before, pos, by);
        if (after === before) return;
        set(b, p, after);
        const r = await verifyBundle(b, opts);
        assert.equal(r.ok, false, `flip at ${p.join('.')}`);
        assert.ok(
          r.checks.some((c) => c.status === 'fail' && typeof c.code === 'string'),
          p.join('.'),
        );
      },
    ),
    { numRuns: 300 },
  );
});

// A verifier that signs whatever evidence it is handed (its digest then matches) still cannot
// make flipped evidence pass: every byte-carrying member is checked here on its own.
const SIGNER = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const SIGNER_JWK = SIGNER.publicKey.export({ format: 'jwk' });

async function resigned(b: Bundle): Promise<Bundle> {
  const claims = decodeJwt(b.result) as Record<string, unknown> & {
    submods: Record<string, Record<string, unknown>>;
  };
  claims.submods['tmb-receipt']!['tmb.evidence-sha256'] = toHex(
    sha256(canonicalBytes(b.evidence as unknown as CanonicalValue)),
  );
  const result = await new SignJWT(claims)
    .setProtectedHeader({ alg: 'ES256', typ: 'JWT' })
    .sign(SIGNER.privateKey);
  return { ...b, result };
}

// Members the client takes from the verifier by design (docs/bundle.md, "What stays the
// verifier's word"): its reference values and the telemetry summary; and the boot log, whose
// event data the digests bind only where a policy reads it (PFP: a boot application's device
// path is not hashed into its digest), so some of its bytes carry nothing a quote proves.
const CHECKED = PATHS.filter(
  (p) =>
    p[0] === 'evidence' &&
    p[1] !== 'policy' &&
    p[1] !== 'telemetry' &&
    p.join('.') !== 'evidence.kernel.bootLog',
);

test('with the EAR re-signed over flipped evidence, each flip still fails a check of its own', async () => {
  const base = await verifyBundle(await resigned(structuredClone(VECTOR)), {
    verifierKey: SIGNER_JWK,
    ekRoots: ROOTS,
  });
  assert.equal(base.level, 'L1', 'the re-signed vector itself passes');
  await fc.assert(
    fc.asyncProperty(
      fc.constantFrom(...CHECKED),
      fc.nat(),
      fc.integer({ min: 1, max: 255 }),
      async (p, pos, by) => {
        const b = structuredClone(VECTOR);
        const before = get(b, p) as string;
        const after = flip(before, pos, by);
        if (after === before) return;
        set(b, p, after);
        const r = await verifyBundle(await resigned(b), { verifierKey: SIGNER_JWK, ekRoots: ROOTS });
        const failed = r.checks.filter((c) => c.status === 'fail');
        assert.ok(
          failed.length > 0 && failed.every((c) => typeof c.code === 'string'),
          `${p.join('.')}: ${JSON.stringify(r.checks.filter((c) => c.status !== 'pass'))}`,
        );
        assert.equal(r.ok, false);
        assert.notEqual(r.level, 'L1', p.join('.'));
      },
    ),
    // A counterexample found once (sizeofSelect 3 -> 2, the same PCRs), kept as a fixed example.
    { numRuns: 400, examples: [[['evidence', 'quote', 'pcrs'], 6, 1]] },
  );
});

test("a PCR file whose selection is not the quote's byte for byte is TPM_PCRS_FILE_INVALID, even re-signed", async () => {
  // Byte 6 is bank 0's sizeofSelect (3 in the quote): 2 or 4 bytes of bitmap still select the
  // same PCRs (ff 87 00), so the digest matches; the file must still be the quoted selection.
  for (const [at, size] of [
    [6, 2],
    [6, 4],
  ] as const) {
    const b = structuredClone(VECTOR);
    const pcrs = Buffer.from(b.evidence.quote.pcrs, 'base64url');
    assert.equal(pcrs[at], 3);
    pcrs[at] = size;
    b.evidence.quote.pcrs = pcrs.toString('base64url');
    const r = await verifyBundle(await resigned(b), { verifierKey: SIGNER_JWK, ekRoots: ROOTS });
    const digest = r.checks.find((c) => c.name === 'quote.pcr_digest')!;
    assert.equal(digest.status, 'fail', `sizeofSelect ${size}`);
    assert.equal(digest.code, 'TPM_PCRS_FILE_INVALID');
    assert.equal(r.ok, false);
    assert.notEqual(r.level, 'L1');
  }
});

/** Every node's path (objects, arrays and leaves) in a JSON value. */
function nodes(v: unknown, at: Path = [], out: Path[] = []): Path[] {
  if (at.length > 0) out.push(at);
  if (Array.isArray(v)) for (const [i, x] of v.entries()) nodes(x, [...at, i], out);
  else if (typeof v === 'object' && v !== null)
    for (const [k, x] of Object.entries(v)) nodes(x, [...at, k], out);
  return out;
}

test('any JSON value put anywhere in the bundle, even under a re-signed EAR, never throws', async () => {
  const all = nodes(VECTOR);
  await fc.assert(
    fc.asyncProperty(fc.constantFrom(...all), fc.jsonValue({ maxDepth: 3 }), async (p, x) => {
      const b = structuredClone(VECTOR);
      set(b, p, x);
      let signed: Bundle = b;
      try {
        signed = await resigned(b);
      } catch {
        // Evidence without a canonical form (a float): leave the EAR as it was.
      }
      const r = await verifyBundle(signed, { verifierKey: SIGNER_JWK, ekRoots: ROOTS });
      assert.ok(r.checks.length > 0);
      // The reference values are the verifier's word (a member nothing evaluates may change).
      // So is whether an earlier quoted checkpoint exists (`previous: null`, docs/bundle.md).
      const checked =
        p[1] !== 'policy' &&
        p.join('.') !== 'evidence.kernel.bootLog' &&
        !(p.join('.') === 'evidence.previous' && x === null);
      if (checked && JSON.stringify(get(VECTOR, p)) !== JSON.stringify(x))
        assert.notEqual(r.level, 'L1', p.join('.'));
    }),
    { numRuns: 400 },
  );
});

test("any value in the signed claims never throws; the signed level caps the bundle's", async () => {
  const members = [
    'tmb.checks',
    'tmb.enrolment',
    'tmb.ak',
    'tmb.level',
    'tmb.ok',
    'tmb.agent-key',
    'tmb.receipt-id',
    'ear.status',
    'iat',
  ];
  await fc.assert(
    fc.asyncProperty(fc.constantFrom(...members), fc.jsonValue({ maxDepth: 3 }), async (m, x) => {
      const b = await resigned(structuredClone(VECTOR));
      const claims = decodeJwt(b.result) as Record<string, unknown> & {
        submods: Record<string, Record<string, unknown>>;
      };
      if (m === 'iat') claims.iat = x as number;
      else claims.submods['tmb-receipt']![m] = x;
      const result = await new SignJWT(claims)
        .setProtectedHeader({ alg: 'ES256', typ: 'JWT' })
        .sign(SIGNER.privateKey);
      const r = await verifyBundle({ ...b, result }, { verifierKey: SIGNER_JWK, ekRoots: ROOTS });
      const rank = ['none', 'L0', 'L1', 'L2', 'L3'];
      assert.ok(rank.indexOf(r.level) >= 0 && rank.indexOf(r.level) <= 2);
      // The signed level caps the bundle's: an unknown one caps at none.
      if (m === 'tmb.level') assert.ok(rank.indexOf(r.level) <= Math.max(0, rank.indexOf(x as string)));
    }),
    { numRuns: 300 },
  );
});

// biome-ignore lint/suspicious/noExplicitAny: edits of an untyped JSON tree, as an attacker makes them
type Json = Record<string, any>;

test('malformed bundles: BUNDLE_MALFORMED naming the member', async () => {
  const cases: [string, (b: Json) => void, RegExp][] = [
    ['missing member', (b) => delete b.evidence.tpmKey, /"evidence\.tpmKey" must be present/],
    ['unknown member', (b) => (b.evidence.extra = 1), /"evidence" has an unknown member "extra"/],
    ['padded base64', (b) => (b.evidence.agentKey += '='), /"evidence\.agentKey" must be/],
    [
      'upper-case nonce',
      (b) => (b.evidence.quote.nonce = b.evidence.quote.nonce.toUpperCase()),
      /evidence\.quote\.nonce/,
    ],
    [
      'PCR out of range',
      (b) => (b.evidence.appLog.pcr = 16),
      /"evidence\.appLog\.pcr" must be an integer 8\.\.15/,
    ],
    [
      'unknown key type',
      (b) => (b.evidence.tpmKey.type = 'tpm-rsa'),
      /"evidence\.tpmKey\.type" must be "tpm-p256"/,
    ],
    [
      'bad upstream',
      (b) => (b.evidence.quoted.upstream = { kind: 'elsewhere', processes: [] }),
      /upstream\.kind/,
    ],
    [
      'too many chain certificates',
      (b) => (b.evidence.ek.chain = Array(9).fill('AAAA')),
      /evidence\.ek\.chain/,
    ],
    ['version 2', (b) => (b.v = 2), /bundle version 2: only 1 is known/],
  ];
  for (const [what, edit, detail] of cases) {
    const b = structuredClone(VECTOR) as unknown as Json;
    edit(b);
    const r = await verifyBundle(b, opts);
    assert.equal(r.checks[0]!.code, 'BUNDLE_MALFORMED', what);
    assert.match(r.checks[0]!.detail, detail, what);
    assert.equal(r.checks.length, 1, what);
  }
});

test('given the time, a result issued after it fails verifier.result; the EAR expiry is not checked', async () => {
  const iat = (decodeJwt(VECTOR.result).iat as number) * 1000;
  const early = await verifyBundle(structuredClone(VECTOR), { ...opts, now: new Date(iat - 3_600_000) });
  assert.equal(early.checks.find((c) => c.name === 'verifier.result')?.status, 'fail');
  assert.equal(early.level, 'none');
  const late = await verifyBundle(structuredClone(VECTOR), {
    ...opts,
    now: new Date(iat + 365 * 86_400_000),
  });
  assert.equal(late.level, 'L1');
});
