import assert from 'node:assert/strict';
import { createHash, createPublicKey, generateKeyPairSync, verify } from 'node:crypto';
import { after, before, test } from 'node:test';
import type { Verdict } from '@tmb/core';
import {
  createResultSigner,
  EAR_PROFILE,
  earStatus,
  type ResultBinding,
  type RunningVerifier,
  startVerifier,
  VerifierError,
} from '@tmb/verifier';
import { calculateJwkThumbprint, importJWK, jwtVerify } from 'jose';
import { EAR_ISSUER, EAR_TTL_SECONDS } from '../src/ear.ts';
import { call, enrolBody, newKey, receiptBody, signBody, TOKEN } from './fixtures.ts';

const verdict = (over: Partial<Verdict> = {}): Verdict => ({
  receiptId: 'ab'.repeat(16),
  requestId: 'req-1',
  level: 'L0',
  ok: true,
  checks: [{ name: 'receipt.format', status: 'pass', detail: 'ok' }],
  ...over,
});

const BINDING: ResultBinding = {
  receiptSha256: '11'.repeat(32),
  agentKey: 'a2V5',
  enrolment: { agent: 'gpu-1', keyId: '22'.repeat(32), enrolledAt: 1_700_000_000_123 },
  attestationSha256: null,
  ak: null,
};

// Checks a JWT with node:crypto directly, independently of the signer's code.
function open(
  jwt: string,
  jwk: JsonWebKey,
): { header: Record<string, unknown>; claims: Record<string, unknown> } {
  const [h, p, s] = jwt.split('.') as [string, string, string];
  const key = createPublicKey({ key: jwk as import('node:crypto').JsonWebKey, format: 'jwk' });
  const ok = verify(
    'sha256',
    Buffer.from(`${h}.${p}`),
    { key, dsaEncoding: 'ieee-p1363' },
    Buffer.from(s, 'base64url'),
  );
  assert.equal(ok, true, 'ES256 signature verifies');
  return {
    header: JSON.parse(Buffer.from(h, 'base64url').toString()),
    claims: JSON.parse(Buffer.from(p, 'base64url').toString()),
  };
}

test('an EAR result carries the profile, issuer, validity, verifier id and the verdict under its submod', async () => {
  const signer = createResultSigner();
  const jwt = await signer.issue(verdict(), BINDING, new Date(1_700_000_000_000));
  const { header, claims } = open(jwt, signer.jwk);
  assert.deepEqual(header, { alg: 'ES256', kid: signer.jwk.kid, typ: 'JWT' });
  assert.equal(claims.eat_profile, EAR_PROFILE);
  assert.equal(claims.iss, EAR_ISSUER);
  assert.equal(claims.iat, 1_700_000_000);
  assert.equal(claims.nbf, 1_700_000_000);
  assert.equal(claims.exp, 1_700_000_000 + EAR_TTL_SECONDS);
  assert.equal(typeof (claims['ear.verifier-id'] as { build: string }).build, 'string');
  const sub = (claims.submods as Record<string, Record<string, unknown>>)['tmb-receipt']!;
  assert.equal(sub['ear.status'], 'warning');
  assert.equal(sub['tmb.level'], 'L0');
  assert.equal(sub['tmb.receipt-id'], 'ab'.repeat(16));
  assert.equal(sub['tmb.request-id'], 'req-1');
  assert.deepEqual(sub['tmb.checks'], verdict().checks);
  // What the result binds besides the verdict (issue 9: a client reads nothing unsigned).
  assert.equal(sub['tmb.ok'], true);
  assert.equal(sub['tmb.host'], null);
  assert.equal(sub['tmb.tpm'], null);
  assert.equal(sub['tmb.receipt-sha256'], BINDING.receiptSha256);
  assert.equal(sub['tmb.agent-key'], BINDING.agentKey);
  assert.deepEqual(sub['tmb.enrolment'], BINDING.enrolment);
  assert.equal(sub['tmb.attestation-sha256'], null);
  assert.equal(sub['tmb.ak'], null);
});

test('the kid is the RFC 7638 thumbprint of the public key, as jose computes it', async () => {
  const signer = createResultSigner();
  assert.equal(signer.jwk.kid, await calculateJwkThumbprint(signer.jwk, 'sha256'));
  assert.deepEqual(Object.keys(signer.jwk).sort(), ['alg', 'crv', 'kid', 'kty', 'use', 'x', 'y']);
});

test('issuer, validity and build are options; a bad validity is refused', async () => {
  const signer = createResultSigner(undefined, { issuer: 'verifier.example', ttlSeconds: 60, build: 'b 1' });
  const { claims } = open(await signer.issue(verdict(), BINDING, new Date(1_700_000_000_000)), signer.jwk);
  assert.equal(claims.iss, 'verifier.example');
  assert.equal(signer.issuer, 'verifier.example');
  assert.equal(claims.exp, 1_700_000_060);
  assert.deepEqual(claims['ear.verifier-id'], { developer: 'https://github.com/trust-me-bro', build: 'b 1' });
  for (const ttlSeconds of [0, -1, 1.5, Number.NaN]) {
    assert.throws(
      () => createResultSigner(undefined, { ttlSeconds }),
      (e: unknown) => e instanceof VerifierError && e.code === 'VERIFIER_CONFIG_INVALID',
    );
  }
});

test('ear.status follows the verdict: contraindicated on failure, warning at L0, affirming above', () => {
  assert.equal(earStatus(verdict({ ok: false, level: 'none' })), 'contraindicated');
  assert.equal(earStatus(verdict({ level: 'none' })), 'none');
  assert.equal(earStatus(verdict()), 'warning');
  assert.equal(earStatus(verdict({ level: 'L1' })), 'affirming');
});

test('a PEM P-256 key is loaded and used; other keys are refused', async () => {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const pem = privateKey.export({ format: 'pem', type: 'pkcs8' }) as string;
  const signer = createResultSigner(pem);
  const expected = createPublicKey(privateKey).export({ format: 'jwk' });
  assert.equal(signer.jwk.x, expected.x);
  open(await signer.issue(verdict(), BINDING), signer.jwk);
  const ed = generateKeyPairSync('ed25519').privateKey.export({ format: 'pem', type: 'pkcs8' }) as string;
  for (const bad of [ed, 'not a pem']) {
    assert.throws(
      () => createResultSigner(bad),
      (e: unknown) => e instanceof VerifierError && e.code === 'VERIFIER_CONFIG_INVALID',
    );
  }
});

let v: RunningVerifier;
before(async () => {
  v = await startVerifier({ dbPath: ':memory:', tokens: [{ token: TOKEN, agent: 'gpu-1' }] });
});
after(() => v.close());

test('GET /v1/receipts/:id returns a result that verifies under GET /v1/verifier-key', async () => {
  const k = newKey('gpu-1');
  await call(`${v.url}/v1/agents/enroll`, 'POST', enrolBody(k));
  const body = receiptBody(k);
  await call(`${v.url}/v1/receipts`, 'POST', { agent: 'gpu-1', receipts: [signBody(k, body)] });
  const jwk = (await call(`${v.url}/v1/verifier-key`, 'GET')).json as unknown as JsonWebKey;
  const r = await call(`${v.url}/v1/receipts/${body.id}`, 'GET');
  const { claims } = open(r.json.result as string, jwk);
  const sub = (claims.submods as Record<string, Record<string, unknown>>)['tmb-receipt']!;
  assert.equal(sub['tmb.receipt-id'], body.id);
  assert.deepEqual(sub['tmb.checks'], (r.json.verdict as Verdict).checks);
  // And with jose, as a relying party would: only ES256, the issuer, and the time window.
  const key = await importJWK(jwk, 'ES256');
  const { payload } = await jwtVerify(r.json.result as string, key, {
    algorithms: ['ES256'],
    issuer: EAR_ISSUER,
    requiredClaims: ['iat', 'exp'],
  });
  assert.equal(payload.eat_profile, EAR_PROFILE);
  // The bound members: the stored body bytes' digest, the enrolled key and its enrolment.
  const bytes = Buffer.from((r.json.receipt as { body: string }).body, 'base64url');
  assert.equal(sub['tmb.receipt-sha256'], createHash('sha256').update(bytes).digest('hex'));
  assert.equal(sub['tmb.agent-key'], Buffer.from(k.raw).toString('base64url'));
  assert.equal(sub['tmb.agent-key'], r.json.agentKey);
  const e = sub['tmb.enrolment'] as { agent: string; keyId: string; enrolledAt: number };
  assert.deepEqual([e.agent, e.keyId], ['gpu-1', k.keyId]);
  assert.ok(Number.isSafeInteger(e.enrolledAt) && Math.abs(e.enrolledAt - Date.now()) < 60_000);
  assert.equal(sub['tmb.ok'], true);
  assert.equal(sub['tmb.attestation-sha256'], null, 'no TPM: no attestation');
  assert.equal(sub['tmb.ak'], null);
});
