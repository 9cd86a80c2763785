import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { type Check, levelOf } from '@tmb/core';
import { l1Checks } from '../../src/appraise/l1.ts';
import { createAttestService } from '../../src/attest/service.ts';
import { type AgentAttest, saveAttest } from '../../src/attest/state.ts';
import { type RunningVerifier, SqliteStore, startVerifier, type VerifierOptions } from '../../src/index.ts';
import { agentTokens, newKey, receiptBody } from '../fixtures.ts';
import { ScriptedHost } from './kernel-host.ts';

// Issue 9, "Trust roots named", on a real swtpm: the verdict names the EK root's class; the
// swtpm's CA is a development root; --require-hardware-tpm keeps it below L1 by name; a CA
// configured as a hardware vendor's (test-only option) makes the same TPM `hardware`.

let dir: string;
let host: ScriptedHost;
let root: string;
let issuer: string;
const running: RunningVerifier[] = [];

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tmb-tpmroot-'));
  host = new ScriptedHost(dir, '', 'host-1');
  [root, issuer] = (await host.provision()) as [string, string];
});

after(async () => {
  await host?.close();
  for (const v of running) await v.close();
  await rm(dir, { recursive: true, force: true });
});

type Verdict = {
  level: string;
  ok: boolean;
  tpm?: unknown;
  checks: { name: string; status: string; code?: string; detail: string }[];
};

/** A fresh verifier with `options`, the host enrolled there, one receipt served: its verdict. */
async function verdictUnder(options: Partial<VerifierOptions>): Promise<Verdict> {
  const v = await startVerifier({ dbPath: ':memory:', tokens: agentTokens('host-1'), ...options });
  running.push(v);
  host.url = v.url;
  host.bodies = [];
  await host.enrol();
  const [id] = await host.serve(1);
  const r = await fetch(`${v.url}/v1/receipts/${id}`);
  assert.equal(r.status, 200);
  return ((await r.json()) as { verdict: Verdict }).verdict;
}

const ekCheck = (vd: Verdict) => vd.checks.find((c) => c.name === 'host.ek_certificate');

test("swtpm's EK chains to a development root: host.ek_certificate passes and the verdict says so", async () => {
  const vd = await verdictUnder({ tpmRoots: [root, issuer] });
  assert.equal(ekCheck(vd)?.status, 'pass', ekCheck(vd)?.detail);
  assert.match(ekCheck(vd)!.detail, /^development root; /);
  assert.deepEqual(vd.tpm, { root: 'development', issuer: 'CN=swtpm-localca', manufacturer: 'IBM (swtpm)' });
});

test('--require-hardware-tpm: the swtpm enrols but fails host.ek_certificate EK_ROOT_NOT_HARDWARE, at L0', async () => {
  const vd = await verdictUnder({ tpmRoots: [root], ekIntermediates: [issuer], requireHardwareTpm: true });
  assert.equal(ekCheck(vd)?.code, 'EK_ROOT_NOT_HARDWARE');
  assert.equal(vd.level, 'L0');
  assert.equal(vd.ok, false);
  // This scripted host sends no boot log, so other checks also fail: with every other check
  // passing, the EK root alone still keeps the verdict at L0, and without it L1 is reached.
  const pass = (name: string): Check => ({ name, status: 'pass', detail: '' });
  const onlyEk = vd.checks.map((c) => (c.name === 'host.ek_certificate' ? (c as Check) : pass(c.name)));
  assert.equal(levelOf(onlyEk), 'L0');
  assert.notEqual(levelOf(vd.checks.map((c) => pass(c.name))), 'L0');
  assert.deepEqual(vd.tpm, {
    root: 'development',
    issuer: 'CN=swtpm-localca-rootca',
    manufacturer: 'IBM (swtpm)',
  });
});

test("a CA configured as a hardware vendor's (test-only) makes the same EK hardware, passing the requirement", async () => {
  const vd = await verdictUnder({
    ekHardwareRoots: [root],
    ekIntermediates: [issuer],
    requireHardwareTpm: true,
  });
  assert.equal(ekCheck(vd)?.status, 'pass', ekCheck(vd)?.detail);
  assert.deepEqual(vd.tpm, {
    root: 'hardware',
    issuer: 'CN=swtpm-localca-rootca',
    manufacturer: 'IBM (swtpm)',
  });
});

test('an EK chaining to no configured or shipped root is refused at enrolment, by name', async () => {
  const v = await startVerifier({ dbPath: ':memory:', tokens: agentTokens('host-1') });
  running.push(v);
  host.url = v.url;
  await assert.rejects(host.enrol(), /EK_CERT_CHAIN_INVALID/);
});

test('the verdict repeats the class kept at enrolment; a row kept before classes reads unknown', async () => {
  const key = newKey('gpu-1');
  const body = receiptBody(key, { seq: 0 });
  const store = new SqliteStore(':memory:');
  const attest = createAttestService(store, { roots: [], nonceTtlMs: 1000 });
  const stored = {
    id: body.id,
    requestId: body.request.id,
    agent: 'gpu-1',
    keyId: body.key,
    body: new Uint8Array(0),
    sig: new Uint8Array(64),
    receivedAt: 0,
    seq: 0,
  };
  const old = {
    ekPublic: '',
    ekCheck: { name: 'host.ek_certificate', status: 'pass', detail: 'ok' },
    akPublic: '',
    akName: '000b',
    activatedAt: 0,
    pcr: 15,
    clock: null,
    ima: null,
    bound: [],
    checkpoint: null,
    checks: [],
    quote: null,
    acceptedAt: null,
  } as AgentAttest;
  await saveAttest(store, 'gpu-1', old);
  assert.deepEqual((await l1Checks(store, attest, stored, body)).tpm, {
    root: 'unknown',
    issuer: '',
    manufacturer: null,
  });
  const tpm = { root: 'hardware', issuer: 'CN=Vendor', manufacturer: 'Infineon' } as const;
  await saveAttest(store, 'gpu-1', { ...old, tpm });
  assert.deepEqual((await l1Checks(store, attest, stored, body)).tpm, tpm);
  // An agent without an AK gets no tpm member.
  assert.equal((await l1Checks(store, attest, { ...stored, agent: 'gpu-2' }, body)).tpm, undefined);
  await store.close();
});
