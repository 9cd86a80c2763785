import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import { agentKeyId, type ReceiptBody } from '@tmb/core';
import { buildEntry, type EntryFields, type ImaEntry } from '@tmb/core/ima';
import { appraiseHostEvidence, emptyLedger, foldEntries, loadReferences } from '../../src/host/index.ts';

const sha = (b: Uint8Array | string) => new Uint8Array(createHash('sha256').update(b).digest());
const hex = (b: Uint8Array | string) => Buffer.from(sha(b)).toString('hex');
const utf8 = (s: string) => new TextEncoder().encode(s);

const KEY = new Uint8Array(32).fill(1);
const KEY_ID = agentKeyId(KEY);
const W7 = 'weights of sample-7b';
const W1 = 'weights of sample-1b';
const ENGINE = 'engine binary';
const BUILD = 'agent build manifest';

const registry = {
  version: 1,
  models: {
    'sample-7b': { weights: [`sha256:${hex(W7)}`] },
    'sample-1b': { weights: [`sha256:${hex(W1)}`] },
  },
  engines: { 'llama.cpp': { executables: [`sha256:${hex(ENGINE)}`] } },
  agents: [`sha256:${hex(BUILD)}`],
};
const refs = loadReferences({ registry: JSON.stringify(registry) });

/** The entries an agent logs: key event, build, role + weights file, role + engine. */
function agentLog(weights: string, key = KEY): ImaEntry[] {
  const fields: EntryFields[] = [
    { template: 'ima-buf', digest: sha(key), path: 'tmb.agent-key', extra: key },
    { template: 'ima-buf', digest: sha(BUILD), path: 'tmb.agent-build', extra: utf8(BUILD) },
    {
      template: 'ima-buf',
      digest: sha('/models/m.gguf'),
      path: 'tmb.role:weights',
      extra: utf8('/models/m.gguf'),
    },
    { digest: sha(weights), path: '/models/m.gguf' },
    {
      template: 'ima-buf',
      digest: sha('/usr/bin/llama-server'),
      path: 'tmb.role:engine',
      extra: utf8('/usr/bin/llama-server'),
    },
    { digest: sha(ENGINE), path: '/usr/bin/llama-server' },
  ];
  return fields.map((f, i) => buildEntry({ ...f, pcr: 15 }, i));
}

function body(model: string | null, key = KEY_ID): ReceiptBody {
  return { agent: 'gpu-1', key, model: { requested: model, reported: model } } as ReceiptBody;
}

const check = (checks: ReturnType<typeof appraiseHostEvidence>, name: string) =>
  checks.find((c) => c.name === name)!;

test('quoted weights allowed for the model asked for: weights.allowed, host.engine and host.agent pass', () => {
  const quoted = foldEntries(emptyLedger(3), agentLog(W7), { resetCount: 3 });
  const checks = appraiseHostEvidence({ quoted, asserted: null }, body('sample-7b'), refs);
  assert.deepEqual(
    checks.map((c) => [c.name, c.status]),
    [
      ['weights.allowed', 'pass'],
      ['host.engine', 'pass'],
      ['host.agent', 'pass'],
    ],
  );
  assert.match(check(checks, 'weights.allowed').detail, /allowed build of "sample-7b"/);
});

test('quoted weights of another model fail WEIGHTS_NOT_ALLOWED and name whose they are', () => {
  const quoted = foldEntries(emptyLedger(3), agentLog(W1), { resetCount: 3 });
  const c = check(
    appraiseHostEvidence({ quoted, asserted: null }, body('sample-7b'), refs),
    'weights.allowed',
  );
  assert.equal(c.status, 'fail');
  assert.equal(c.code, 'WEIGHTS_NOT_ALLOWED');
  assert.match(c.detail, /these weights are sample-1b/);
  assert.match(c.detail, /measured under a TPM quote/);
});

test('weights no registered model has fail WEIGHTS_NOT_ALLOWED saying so', () => {
  const quoted = foldEntries(emptyLedger(3), agentLog('some other bytes'), { resetCount: 3 });
  const c = check(
    appraiseHostEvidence({ quoted, asserted: null }, body('sample-7b'), refs),
    'weights.allowed',
  );
  assert.equal(c.code, 'WEIGHTS_NOT_ALLOWED');
  assert.match(c.detail, /belong to no registered model/);
});

test('a model the registry lacks fails MODEL_UNKNOWN', () => {
  const quoted = foldEntries(emptyLedger(3), agentLog(W7), { resetCount: 3 });
  const c = check(appraiseHostEvidence({ quoted, asserted: null }, body('gpt-9'), refs), 'weights.allowed');
  assert.equal(c.status, 'fail');
  assert.equal(c.code, 'MODEL_UNKNOWN');
});

test('an unquoted log: allowed weights are only asserted, weights of another model still fail', () => {
  const asserted = foldEntries(emptyLedger(), agentLog(W7));
  const ok = appraiseHostEvidence({ quoted: null, asserted }, body('sample-7b'), refs);
  assert.deepEqual(
    ok.map((c) => c.status),
    ['asserted', 'asserted', 'asserted'],
  );
  assert.match(check(ok, 'weights.allowed').detail, /only the provider's word/);
  const cheap = foldEntries(emptyLedger(), agentLog(W1));
  const c = check(
    appraiseHostEvidence({ quoted: null, asserted: cheap }, body('sample-7b'), refs),
    'weights.allowed',
  );
  assert.equal(c.code, 'WEIGHTS_NOT_ALLOWED');
  assert.match(c.detail, /no TPM quote covers/);
});

test('no log for the receipt key, or no model asked for: skipped; no registry: no checks', () => {
  const quoted = foldEntries(emptyLedger(3), agentLog(W7), { resetCount: 3 });
  const other = appraiseHostEvidence({ quoted, asserted: null }, body('sample-7b', 'ab'.repeat(32)), refs);
  assert.deepEqual(
    other.map((c) => c.status),
    ['skipped', 'skipped', 'skipped'],
  );
  assert.equal(
    check(appraiseHostEvidence({ quoted, asserted: null }, body(null), refs), 'weights.allowed').status,
    'skipped',
  );
  assert.deepEqual(
    appraiseHostEvidence({ quoted, asserted: null }, body('sample-7b'), loadReferences({})),
    [],
  );
});

test('a weights swap during a run: every receipt of that run is judged against both digests', () => {
  const entries = agentLog(W7);
  const swapped = buildEntry({ digest: sha(W1), path: '/models/m.gguf', pcr: 15 }, entries.length);
  const quoted = foldEntries(emptyLedger(3), [...entries, swapped], { resetCount: 3 });
  assert.deepEqual(quoted.runs[KEY_ID]!.weights, [`sha256:${hex(W7)}`, `sha256:${hex(W1)}`]);
  const c = check(
    appraiseHostEvidence({ quoted, asserted: null }, body('sample-7b'), refs),
    'weights.allowed',
  );
  assert.equal(c.code, 'WEIGHTS_NOT_ALLOWED');
});

test('folding is incremental: a repeated delta adds nothing, a reboot starts over, runs are per key', () => {
  const log = agentLog(W7);
  const a = foldEntries(emptyLedger(3), log.slice(0, 3), { resetCount: 3 });
  const b = foldEntries(a, log, { resetCount: 3 });
  assert.equal(b.nextIndex, 6);
  assert.deepEqual(foldEntries(b, log, { resetCount: 3 }), b);
  const key2 = new Uint8Array(32).fill(2);
  const rebooted = foldEntries(b, agentLog(W1, key2), { resetCount: 4 });
  assert.deepEqual(rebooted.runs[KEY_ID]!.weights, [`sha256:${hex(W7)}`]);
  assert.deepEqual(rebooted.runs[agentKeyId(key2)]!.weights, [`sha256:${hex(W1)}`]);
});

test('a Keylime policy appraises the file entries: ima.policy names the failures', () => {
  const policy = {
    meta: { version: 1 },
    digests: { '/models/m.gguf': [hex(W7)], '/usr/bin/llama-server': [hex('another engine')] },
    excludes: [],
    keyrings: {},
    ima: { ignored_keyrings: [], log_hash_alg: 'sha1', dm_policy: null },
    'ima-buf': {},
    'verification-keys': '',
  };
  const withPolicy = loadReferences({ imaPolicy: JSON.stringify(policy) });
  const quoted = foldEntries(emptyLedger(3), agentLog(W7), { resetCount: 3, policy: withPolicy.policy });
  const [c] = appraiseHostEvidence({ quoted, asserted: null }, body('sample-7b'), withPolicy);
  assert.equal(c!.name, 'ima.policy');
  assert.equal(c!.status, 'fail');
  assert.equal(c!.code, 'IMA_DIGEST_NOT_ALLOWED');
  assert.match(c!.detail, /1 of 2 file entries/);
});

test('a malformed registry refuses to start the verifier, naming REGISTRY_INVALID', () => {
  assert.throws(
    () => loadReferences({ registry: '{"version": 2, "models": {}}' }),
    (e: Error & { code?: string }) =>
      e.code === 'VERIFIER_CONFIG_INVALID' && /REGISTRY_INVALID/.test(e.message),
  );
  assert.throws(
    () => loadReferences({ imaPolicy: '{"meta": {"version": 2}}' }),
    (e: Error & { code?: string }) =>
      e.code === 'VERIFIER_CONFIG_INVALID' && /IMA_POLICY_INVALID/.test(e.message),
  );
});
