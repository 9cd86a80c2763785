import assert from 'node:assert/strict';
import { createHmac, createPrivateKey, generateKeyPairSync, type KeyObject, sign } from 'node:crypto';
import { test } from 'node:test';
import { checkResult, verifyResult } from '@tmb/client';
import { createResultSigner, type ResultBinding } from '@tmb/verifier';
import fc from 'fast-check';

const ID = 'ab'.repeat(16);
const T0 = new Date(1_800_000_000_000);
const T0S = 1_800_000_000;
const verdict = { receiptId: ID, requestId: null, level: 'L0' as const, ok: true, checks: [] };

const BINDING: ResultBinding = {
  receiptSha256: '11'.repeat(32),
  agentKey: 'a2V5',
  enrolment: { agent: 'gpu-1', keyId: '22'.repeat(32), enrolledAt: 1_800_000_000_000 },
  attestationSha256: null,
  ak: null,
};

const b64 = (v: unknown): string => Buffer.from(JSON.stringify(v)).toString('base64url');

/** A JWS made here with node:crypto, independently of jose and of the verifier's signer. */
function forge(header: Record<string, unknown>, claims: Record<string, unknown>, key?: KeyObject): string {
  const input = `${b64(header)}.${b64(claims)}`;
  if (key === undefined) return `${input}.`;
  const alg = header.alg as string;
  const hash = { ES256: 'sha256', ES384: 'sha384', ES512: 'sha512', RS256: 'sha256' }[alg] ?? 'sha256';
  const sig = sign(hash, Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' });
  return `${input}.${sig.toString('base64url')}`;
}

function earClaims(over: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    eat_profile: 'tag:github.com,2023:veraison/ear',
    iss: 'tmb-verifier',
    iat: T0S,
    nbf: T0S,
    exp: T0S + 300,
    submods: {
      'tmb-receipt': {
        'ear.status': 'warning',
        'tmb.level': 'L0',
        'tmb.receipt-id': ID,
        'tmb.checks': [],
        'tmb.ok': true,
        'tmb.host': null,
        'tmb.tpm': null,
        'tmb.receipt-sha256': BINDING.receiptSha256,
        'tmb.agent-key': BINDING.agentKey,
        'tmb.enrolment': BINDING.enrolment,
        'tmb.attestation-sha256': null,
        'tmb.ak': null,
      },
    },
    ...over,
  };
}

async function expectInvalid(
  jwt: string,
  key: JsonWebKey & { kid?: string },
  match: RegExp,
  now = T0,
): Promise<void> {
  const c = await checkResult(jwt, key, ID, { now });
  assert.deepEqual([c.status, c.code], ['fail', 'RESULT_INVALID'], c.detail);
  assert.match(c.detail, match);
}

test('a result issued now by the trusted key passes; one about another receipt fails', async () => {
  const signer = createResultSigner();
  const jwt = await signer.issue(verdict, BINDING, T0);
  const ok = await checkResult(jwt, signer.jwk, ID, { now: T0 });
  assert.equal(ok.status, 'pass', ok.detail);
  assert.equal(ok.detail, 'EAR signed by the verifier key: ear.status warning, level L0');
  await expectInvalid(
    await signer.issue({ ...verdict, receiptId: 'cd'.repeat(16) }, BINDING, T0),
    signer.jwk,
    /about receipt cdcd/,
  );
});

test('alg confusion: none, HS256 keyed with the public key, ES384/ES512 and RS256 are refused', async () => {
  const signer = createResultSigner();
  const { kid } = signer.jwk;
  const claims = earClaims();
  await expectInvalid(forge({ alg: 'none', kid, typ: 'JWT' }, claims), signer.jwk, /none, only ES256/);
  // The classic confusion: an HMAC whose secret is the verifier's public key material.
  for (const secret of [JSON.stringify(signer.jwk), signer.jwk.x, Buffer.from(signer.jwk.x, 'base64url')]) {
    const input = `${b64({ alg: 'HS256', kid, typ: 'JWT' })}.${b64(claims)}`;
    const mac = createHmac('sha256', secret).update(input).digest('base64url');
    await expectInvalid(`${input}.${mac}`, signer.jwk, /result algorithm HS256, only ES256/);
  }
  const p384 = generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey;
  await expectInvalid(
    forge({ alg: 'ES384', kid, typ: 'JWT' }, claims, p384),
    signer.jwk,
    /ES384, only ES256/,
  );
  const p521 = generateKeyPairSync('ec', { namedCurve: 'P-521' }).privateKey;
  await expectInvalid(
    forge({ alg: 'ES512', kid, typ: 'JWT' }, claims, p521),
    signer.jwk,
    /ES512, only ES256/,
  );
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
  await expectInvalid(forge({ alg: 'RS256', kid, typ: 'JWT' }, claims, rsa), signer.jwk, /RS256, only ES256/);
  // A trusted key given as another key type is not usable, whatever the token says.
  const c = await checkResult(await signer.issue(verdict, BINDING, T0), { kty: 'oct', k: 'c2VjcmV0' }, ID, {
    now: T0,
  });
  assert.deepEqual([c.code, c.detail], ['RESULT_INVALID', 'the verifier key is not a usable P-256 JWK']);
});

test('an expired result fails, within the clock tolerance it passes', async () => {
  const signer = createResultSigner(); // results live 300 s
  const jwt = await signer.issue(verdict, BINDING, T0);
  const at = (s: number) => new Date(T0.getTime() + s * 1000);
  assert.equal((await checkResult(jwt, signer.jwk, ID, { now: at(299) })).status, 'pass');
  assert.equal((await checkResult(jwt, signer.jwk, ID, { now: at(350) })).status, 'pass', 'tolerance 60 s');
  await expectInvalid(jwt, signer.jwk, /expired at 2027-01-15T08:05:00.000Z/, at(361));
  const strict = await checkResult(jwt, signer.jwk, ID, { now: at(300), clockTolerance: 0 });
  assert.equal(strict.code, 'RESULT_INVALID');
});

test('a result not yet valid fails, within the clock tolerance it passes', async () => {
  const signer = createResultSigner();
  const jwt = await signer.issue(verdict, BINDING, T0);
  const at = (s: number) => new Date(T0.getTime() + s * 1000);
  assert.equal((await checkResult(jwt, signer.jwk, ID, { now: at(-59) })).status, 'pass');
  await expectInvalid(jwt, signer.jwk, /not valid before 2027-01-15T08:00:00.000Z/, at(-61));
  const strict = await checkResult(jwt, signer.jwk, ID, { now: at(-1), clockTolerance: 0 });
  assert.equal(strict.code, 'RESULT_INVALID');
});

test('a result from another issuer fails unless that issuer is the expected one', async () => {
  const signer = createResultSigner(undefined, { issuer: 'evil-verifier' });
  const jwt = await signer.issue(verdict, BINDING, T0);
  await expectInvalid(jwt, signer.jwk, /issued by "evil-verifier", expected "tmb-verifier"/);
  const c = await checkResult(jwt, signer.jwk, ID, { now: T0, issuer: 'evil-verifier' });
  assert.equal(c.status, 'pass');
});

test('results without exp, iss or typ JWT, or under another kid, are refused', async () => {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const pem = privateKey.export({ format: 'pem', type: 'pkcs8' }) as string;
  const signer = createResultSigner(pem);
  const key = createPrivateKey(pem);
  const h = { alg: 'ES256', kid: signer.jwk.kid, typ: 'JWT' };
  assert.equal((await checkResult(forge(h, earClaims(), key), signer.jwk, ID, { now: T0 })).status, 'pass');
  await expectInvalid(forge(h, earClaims({ exp: undefined }), key), signer.jwk, /no "exp" claim/);
  await expectInvalid(forge(h, earClaims({ iss: undefined }), key), signer.jwk, /no "iss" claim/);
  await expectInvalid(forge({ ...h, typ: 'at+jwt' }, earClaims(), key), signer.jwk, /not typed JWT/);
  await expectInvalid(forge({ ...h, kid: 'other' }, earClaims(), key), signer.jwk, /another key/);
  await expectInvalid(forge(h, earClaims({ eat_profile: 'x' }), key), signer.jwk, /not a TMB EAR/);
  const other = createResultSigner();
  await expectInvalid(
    await other.issue(verdict, BINDING, T0),
    { ...signer.jwk, kid: other.jwk.kid },
    /does not verify/,
  );
});

// Issue 9: a result signed before bound results (level and checks only) is not enough: the
// client would have to take the receipt, key and enrolment from unsigned JSON.
test('a result that binds no receipt digest, or a malformed bound member, is RESULT_INVALID', async () => {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const pem = privateKey.export({ format: 'pem', type: 'pkcs8' }) as string;
  const signer = createResultSigner(pem);
  const key = createPrivateKey(pem);
  const h = { alg: 'ES256', kid: signer.jwk.kid, typ: 'JWT' };
  const sub = (earClaims().submods as Record<string, Record<string, unknown>>)['tmb-receipt']!;
  const cases: [string, unknown, RegExp][] = [
    ['tmb.receipt-sha256', undefined, /no receipt digest/],
    ['tmb.receipt-sha256', 'AB'.repeat(32), /no receipt digest/],
    ['tmb.level', 'L9', /tmb.level/],
    ['tmb.ok', 'yes', /tmb.ok/],
    ['tmb.checks', [{ name: 'x', status: 'great', detail: '' }], /tmb.checks/],
    ['tmb.agent-key', 7, /tmb.agent-key/],
    ['tmb.enrolment', { agent: 'a' }, /tmb.enrolment/],
    ['tmb.attestation-sha256', 'x', /tmb.attestation-sha256/],
    ['tmb.ak', { name: 1 }, /tmb.ak/],
    ['tmb.host', undefined, /tmb.host/],
  ];
  for (const [member, value, match] of cases) {
    const changed = { ...sub, [member]: value };
    if (value === undefined) delete changed[member];
    await expectInvalid(forge(h, earClaims({ submods: { 'tmb-receipt': changed } }), key), signer.jwk, match);
  }
  const { check, bound } = await verifyResult(forge(h, earClaims(), key), signer.jwk, ID, { now: T0 });
  assert.equal(check.status, 'pass');
  assert.deepEqual(bound, {
    level: 'L0',
    ok: true,
    checks: [],
    host: null,
    tpm: null,
    ...BINDING,
  });
});

test('property: a changed character of a signed result fails verifier.result, never throws', async () => {
  const signer = createResultSigner();
  const jwt = await signer.issue(verdict, BINDING, T0);
  assert.equal((await checkResult(jwt, signer.jwk, ID, { now: T0 })).status, 'pass');
  await fc.assert(
    fc.asyncProperty(
      fc.nat(jwt.length - 1),
      fc.constantFrom('A', 'B', '-', '_', '.', '0'),
      async (at, ch) => {
        fc.pre(jwt[at] !== ch);
        const changed = jwt.slice(0, at) + ch + jwt.slice(at + 1);
        // The last character of a base64url segment carries unused low bits: changing only those
        // leaves the decoded bytes, and so the token, the same. Such a change is not a tamper.
        const bytes = (t: string) => t.split('.').map((p) => Buffer.from(p, 'base64url').toString('hex'));
        fc.pre(changed.split('.').length !== 3 || bytes(changed).join('.') !== bytes(jwt).join('.'));
        const c = await checkResult(changed, signer.jwk, ID, { now: T0 });
        assert.deepEqual([c.status, c.code], ['fail', 'RESULT_INVALID']);
      },
    ),
    { numRuns: 200 },
  );
});

test('property: any string or value as a result fails, never throws', async () => {
  const signer = createResultSigner();
  await fc.assert(
    fc.asyncProperty(fc.oneof(fc.string(), fc.jsonValue()), async (junk) => {
      const c = await checkResult(junk, signer.jwk, ID);
      assert.deepEqual([c.status, c.code], ['fail', 'RESULT_INVALID']);
    }),
    { numRuns: 200 },
  );
});
