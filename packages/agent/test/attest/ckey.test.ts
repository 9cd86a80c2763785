import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { generateAgentKey, type RunningAgent } from '@tmb/agent';
import { checkpointSigner } from '@tmb/agent/log';
import { type Swtpm, TpmDriver } from '@tmb/agent/tpm';
import { agentKeyId, fromBase64Url, fromHex, toBase64Url } from '@tmb/core';
import { quoteQualifyingData } from '@tmb/core/host';
import { buildEntry, entryToBinary, extendDigest } from '@tmb/core/ima';
import { openNote, signNote } from '@tmb/core/log';
import {
  type CheckpointKeyMember,
  checkpointKeyQualifying,
  checkpointNoteVerifier,
  verifyCheckpointKey,
} from '@tmb/core/tpm';
import type { RunningVerifier } from '@tmb/verifier';
import { type AttestedHost, startAttestedHost } from '../fixtures/host.ts';

// Issue 9, item 5: the checkpoint key is held by the TPM and certified by the AK (TPM2_Certify);
// key.bound takes that certification, not a tmb.agent-key PCR event any root process can extend.
// One swtpm, one verifier, a test kernel (as attest/e2e.test.ts).

const TOKEN = 'ckey-e2e-token-0123456789';
const tokenOf = (agent: string) => `${TOKEN}-${agent}`;
const AGENTS = ['ckey-l1', 'ckey-forged'];
let host: AttestedHost;
let dir: string;
let tpm: Swtpm;
let verifier: RunningVerifier;

before(async () => {
  host = await startAttestedHost({ prefix: 'tmb-ckey-e2e-', agents: AGENTS, tokenOf });
  ({ dir, tpm, verifier } = host);
});

after(() => host?.close());

function agentOn(name: string, pcr: number): Promise<RunningAgent> {
  return host.agent(name, pcr);
}

async function request(agent: RunningAgent): Promise<string> {
  const res = await fetch(`${agent.url}/v1/chat/completions`, { method: 'POST', body: '{"model":"m"}' });
  await res.arrayBuffer();
  const id = res.headers.get('tmb-receipt-id');
  assert.ok(id);
  return id;
}

async function coveredBy(agent: RunningAgent, size: number): Promise<void> {
  const deadline = Date.now() + 30_000;
  while ((agent.attester.quoted?.size ?? -1) < size) {
    assert.ok(Date.now() < deadline, `no quoted checkpoint of size >= ${size}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

interface Answer {
  /** The decoded receipt body. */
  body: { key: string };
  verdict: { level: string; checks: { name: string; status: string; code?: string; detail: string }[] };
  attestation?: { checkpoint: string; akPublic: string; tpmKey: CheckpointKeyMember | null };
}

async function answerOf(id: string): Promise<Answer> {
  const res = await fetch(`${verifier.url}/v1/receipts/${id}?wait=5000`);
  assert.equal(res.status, 200);
  return (await res.json()) as Answer;
}

async function post(
  path: string,
  body: { agent: string },
): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(`${verifier.url}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${tokenOf(body.agent)}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

function failedChecks(json: Record<string, unknown>): string[] {
  return ((json.checks ?? []) as { name: string; status: string; code?: string }[])
    .filter((c) => c.status === 'fail')
    .map((c) => `${c.name}:${c.code}`);
}

test('a receipt reaches L1 with the TPM-held checkpoint key: the answer carries its certification, checkable offline', async () => {
  const agent = await agentOn('ckey-l1', 11);
  try {
    const id = await request(agent);
    await coveredBy(agent, 1);
    const a = await answerOf(id);
    assert.equal(a.verdict.level, 'L1', JSON.stringify(a.verdict.checks.filter((c) => c.status !== 'pass')));
    const bound = a.verdict.checks.find((c) => c.name === 'key.bound');
    assert.equal(bound?.status, 'pass');
    assert.match(bound?.detail ?? '', /TPM key/);
    const member = a.attestation?.tpmKey;
    assert.ok(member, 'the answer names the TPM checkpoint key');
    assert.equal(member.type, 'tpm-p256');
    // Offline: the certification verifies under the answer's AK, for this agent and this receipt's key.
    const c = verifyCheckpointKey(member, {
      akPublic: fromBase64Url(a.attestation!.akPublic),
      agent: 'ckey-l1',
    });
    assert.deepEqual(
      c.checks.filter((x) => x.status === 'fail'),
      [],
    );
    const receiptKey = a.body.key;
    assert.equal(member.certify.receiptKeyId, receiptKey);
    // The quoted checkpoint carries a valid signature by that TPM key.
    const opened = openNote(a.attestation!.checkpoint, [checkpointNoteVerifier('tmb/agent/ckey-l1', member)]);
    assert.equal(opened.ok, true);
    // The certification replayed with a fresh nonce: its qualifying data names the old one.
    const n = (await post('/v1/attest/nonce', { agent: 'ckey-l1' })).json.nonce as string;
    const again = await post('/v1/attest/checkpoint-key', {
      agent: 'ckey-l1',
      nonce: n,
      keyPublic: member.public,
      certifyInfo: member.certify.attest,
      signature: member.certify.signature,
      receiptKeyId: member.certify.receiptKeyId,
    } as { agent: string });
    assert.equal(again.status, 422);
    assert.deepEqual(failedChecks(again.json), ['tpm.certify.nonce:CERTIFY_NONCE_MISMATCH']);
    // ...and with its own nonce, which the verifier already spent.
    const replay = await post('/v1/attest/checkpoint-key', {
      agent: 'ckey-l1',
      nonce: member.certify.nonce,
      keyPublic: member.public,
      certifyInfo: member.certify.attest,
      signature: member.certify.signature,
      receiptKeyId: member.certify.receiptKeyId,
    } as { agent: string });
    assert.equal(replay.status, 422);
    assert.deepEqual(failedChecks(replay.json), ['tpm.certify.fresh:NONCE_REUSED']);
  } finally {
    await agent.close();
  }
});

test('regression: a root process that extends a tmb.agent-key event for its own key and signs a checkpoint with it gets no L1', async () => {
  const name = 'ckey-forged';
  const pcr = 12;
  const agent = await agentOn(name, pcr);
  const id = await request(agent);
  await coveredBy(agent, 1);
  await agent.close();
  // Root on the host, with the agent's token and the TPM: a key of its own, enrolled for the agent...
  const forger = generateAgentKey(name);
  const enrolled = await post('/v1/agents/enroll', {
    agent: name,
    key: toBase64Url(forger.publicKey),
    proof: toBase64Url(forger.proof),
  } as { agent: string });
  assert.equal(enrolled.status, 200, JSON.stringify(enrolled.json));
  const n = (await post('/v1/attest/nonce', { agent: name })).json as {
    nonce: string;
    logFrom: number;
    checkpointSize: number;
    kernelFrom: number;
  };
  // ...extended into the application PCR as a tmb.agent-key event, exactly as the agent does.
  const driver = new TpmDriver({ tcti: tpm.tcti, workDir: join(dir, name, 'tpm') });
  const entry = buildEntry(
    {
      pcr,
      template: 'ima-buf',
      digest: fromHex(agentKeyId(forger.publicKey)),
      path: 'tmb.agent-key',
      extra: forger.publicKey,
    },
    n.logFrom,
  );
  await driver.pcrExtend(pcr, extendDigest(entry, 'sha256'));
  // A checkpoint over the agent's receipts signed by the forger's key, quoted by the agent's AK.
  const last = await answerOf(id);
  const text = last.attestation!.checkpoint.slice(0, last.attestation!.checkpoint.indexOf('\n\n') + 1);
  const note = await signNote(text, [checkpointSigner(`tmb/agent/${name}`, forger)]);
  const quotedPcrs = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, pcr];
  const q = await driver.quote(
    quotedPcrs,
    quoteQualifyingData(fromHex(n.nonce), note, { telemetryTool: null, upstream: null }),
  );
  const r = await post('/v1/attest/evidence', {
    agent: name,
    nonce: n.nonce,
    checkpoint: note,
    quote: {
      attest: toBase64Url(q.attest),
      signature: toBase64Url(q.signature),
      pcrs: toBase64Url(q.pcrsFile),
    },
    log: { from: n.logFrom, entries: toBase64Url(entryToBinary(entry)) },
    kernel: { from: n.kernelFrom, entries: '' },
    consistency: { v: 1, type: 'consistency', from: n.checkpointSize, to: n.checkpointSize, hashes: [] },
  } as { agent: string });
  // The event replays (log.replay passes): only key.bound fails, so the quote is refused.
  assert.equal(r.status, 422);
  assert.deepEqual(failedChecks(r.json), ['key.bound:KEY_NOT_BOUND']);
  assert.equal(
    ((r.json.checks ?? []) as { name: string; status: string }[]).find((c) => c.name === 'log.replay')
      ?.status,
    'pass',
  );
  // Its own TPM key, certified by the same AK under the same activation: refused (one key a start).
  const n2 = (await post('/v1/attest/nonce', { agent: name })).json.nonce as string;
  const own = await driver.createCheckpointKey(
    checkpointKeyQualifying(fromHex(n2), name, agentKeyId(forger.publicKey)),
  );
  const cert = await post('/v1/attest/checkpoint-key', {
    agent: name,
    nonce: n2,
    keyPublic: toBase64Url(own.public),
    certifyInfo: toBase64Url(own.certifyInfo),
    signature: toBase64Url(own.signature),
    receiptKeyId: agentKeyId(forger.publicKey),
  } as { agent: string });
  assert.equal(cert.status, 409, JSON.stringify(cert.json));
  // The agent's own receipt stays L1: the forged quote changed nothing.
  assert.equal((await answerOf(id)).verdict.level, 'L1');
});
