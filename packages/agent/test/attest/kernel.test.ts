import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { startAgent } from '@tmb/agent';
import { provisionSwtpm, type Swtpm, startSwtpm, TpmDriver } from '@tmb/agent/tpm';
import { concat, fromBase64Url, sha256, utf8 } from '@tmb/core';
import { buildEntry, entryToBinary, extendDigest, parseBinaryLog, replay } from '@tmb/core/ima';
import { parsePcrsFile } from '@tmb/core/tpm';
import { fakeUpstream } from '../fixtures/model.ts';
import { FakeSecurityfs, TestKernel } from '../measure/kernel/fixtures.ts';
import { FakeVerifier, type PostedEvidence } from './fake-verifier.ts';

// Evidence v2 on a real swtpm against a small fake verifier: the agent reads a fake securityfs
// (whose entries this test also extends into PCR 10, as a kernel does), quotes PCRs 0-10 and its
// application PCR, sends the kernel log from the verifier's kernelFrom and the boot log when
// asked, and quotes a kernel change with no traffic.

let dir: string;
let tpm: Swtpm;
let kernelTpm: TpmDriver;
let upstream: Awaited<ReturnType<typeof fakeUpstream>>;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tmb-attest-kernel-'));
  tpm = await startSwtpm(await provisionSwtpm(join(dir, 'swtpm')));
  kernelTpm = new TpmDriver({ tcti: tpm.tcti, workDir: join(dir, 'kernel-tpm') });
  upstream = await fakeUpstream((_req, _body, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end('{"choices":[]}');
  });
});

after(async () => {
  await upstream?.close();
  await tpm?.stop();
  await rm(dir, { recursive: true, force: true });
});

const SELECTED = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10];

async function agentWith(
  name: string,
  v: FakeVerifier,
  securityfs: string | false,
  appPcr: number,
  events: string[] = [],
) {
  return startAgent(
    {
      upstream: upstream.url,
      dataDir: join(dir, name),
      name,
      verifier: { url: v.url, token: 'fake-verifier-token-0123456789' },
      tpm: tpm.tcti,
      appPcr,
      kernel: securityfs === false ? false : { securityfs },
      checkpointIntervalMs: 200,
      checkpointMinIntervalMs: 100,
      hostPollMs: 100,
    },
    (event, detail) => events.push(`${event} ${JSON.stringify(detail)}`),
  );
}

/** The quoted sha256 PCR values of an evidence body, by index. */
function quoted(ev: PostedEvidence): Map<number, Uint8Array> {
  const values = parsePcrsFile(fromBase64Url(ev.quote.pcrs));
  assert.deepEqual(
    values.selection.map((s) => s.hash),
    ['sha256'],
  );
  const out = new Map<number, Uint8Array>();
  for (const [i, p] of values.selection[0]!.pcrs.entries()) out.set(p, values.digests[i]!);
  return out;
}

test('evidence v2: kernel entries from kernelFrom, the boot log when asked, PCRs 0-10 and the app PCR quoted; a kernel change is quoted with no traffic', async () => {
  const fs = await new FakeSecurityfs(join(dir, 'sfs-1')).create(utf8('a boot event log'));
  const kernel = new TestKernel(fs, kernelTpm);
  const booted = await kernel.boot(); // boot_aggregate, tmb.simulated-kernel
  const v = await new FakeVerifier().start();
  const agent = await agentWith('k1', v, fs.dir, 14);
  try {
    const first = await v.waitFor((e) => e.kernel != null, 'with a kernel log');
    assert.deepEqual([...quoted(first).keys()], [...SELECTED, 14]);
    assert.equal(first.kernel!.from, 0);
    assert.deepEqual(fromBase64Url(first.kernel!.entries), booted);
    assert.deepEqual(fromBase64Url(first.boot!.log), utf8('a boot event log'), 'first quote: bootLog asked');
    assert.equal(first.telemetryTool, null);
    // The quoted PCR 10 is the replay of what was sent.
    const sent = parseBinaryLog(fromBase64Url(first.kernel!.entries));
    assert.deepEqual(replay(sent, { pcrIndex: 10, bank: 'sha256' }).pcr, quoted(first).get(10));
    // No traffic from here. A file measured by the kernel is quoted: only the new entry, no boot log.
    const n = v.evidence.length;
    const change = await kernel.measure({ digest: sha256(utf8('weights v2')), path: '/models/w.gguf' });
    const next = await v.waitFor((e) => v.evidence.indexOf(e) >= n && e.kernel?.from === 2, 'from entry 2');
    assert.deepEqual(fromBase64Url(next.kernel!.entries), change);
    assert.equal(next.boot, null);
    const all = parseBinaryLog(concat(booted, change));
    assert.deepEqual(replay(all, { pcrIndex: 10, bank: 'sha256' }).pcr, quoted(next).get(10));
    // An entry the kernel has counted and extended but whose bytes are half written when the
    // agent reads: not sent (the verifier tolerates a quote ahead of the log once); the rest,
    // once written, goes with the next quote. Asked for the boot log again, the agent sends it.
    const y = entryToBinary(buildEntry({ digest: sha256(utf8('y')), path: '/usr/bin/y' }, 3));
    const m = v.evidence.length;
    v.force = { bootLog: true };
    await fs.append(y.subarray(0, 40), 1);
    await kernelTpm.pcrExtend(10, extendDigest(parseBinaryLog(y)[0]!, 'sha256'));
    const torn = await v.waitFor(
      (e) => v.evidence.indexOf(e) >= m && e.boot != null,
      'with the boot log again',
    );
    assert.equal(torn.kernel!.from, 3);
    assert.deepEqual(fromBase64Url(torn.kernel!.entries), new Uint8Array(0), 'the torn entry waits');
    v.force = {};
    await fs.append(y.subarray(40), 0);
    const whole = await v.waitFor(
      (e) => e.kernel?.from === 3 && e.kernel.entries !== '',
      'with the completed entry',
    );
    assert.deepEqual(fromBase64Url(whole.kernel!.entries), y);
  } finally {
    await agent.close();
    await v.close();
  }
});

test('a verifier from before evidence v2 (no kernelFrom, no bootLog) gets the kernel log from 0 and the boot log only on the first quote', async () => {
  const fs = await new FakeSecurityfs(join(dir, 'sfs-2')).create();
  const kernel = new TestKernel(fs, kernelTpm);
  await kernel.measure({ digest: sha256(utf8('a')), path: '/usr/bin/a' });
  const v = await new FakeVerifier().start();
  v.v1 = true;
  const agent = await agentWith('k2', v, fs.dir, 13);
  try {
    const first = await v.waitFor(() => true, 'at all');
    assert.equal(first.kernel?.from, 0);
    assert.ok(first.boot != null, 'no resetCount yet: the agent cannot tell the boot, sends the log');
    await kernel.measure({ digest: sha256(utf8('b')), path: '/usr/bin/b' });
    const second = await v.waitFor((e) => e !== first, 'a second');
    assert.equal(second.kernel?.from, 0);
    assert.equal(parseBinaryLog(fromBase64Url(second.kernel!.entries)).length, 2);
    assert.equal(second.boot, null);
    assert.deepEqual([...quoted(second).keys()], [...SELECTED, 13]);
  } finally {
    await agent.close();
    await v.close();
  }
});

test('a malformed kernel log is reported (kernel_log_failed, KERNEL_LOG_MALFORMED) and the agent keeps quoting', async () => {
  const fs = await new FakeSecurityfs(join(dir, 'sfs-3')).create();
  const kernel = new TestKernel(fs, kernelTpm);
  const good = await kernel.measure({ digest: sha256(utf8('good')), path: '/usr/bin/good' });
  const v = await new FakeVerifier().start();
  const events: string[] = [];
  const agent = await agentWith('k3', v, fs.dir, 12, events);
  try {
    await v.waitFor(() => true, 'a first');
    // A 4 GiB template name length: a reader that believed it would wait and buffer forever.
    const bad = new Uint8Array(28);
    new DataView(bad.buffer).setUint32(24, 0xffffffff, true);
    await fs.append(bad, 1);
    const n = v.evidence.length;
    const after = await v.waitFor((e) => v.evidence.indexOf(e) >= n, 'after the bad entry');
    assert.deepEqual(
      fromBase64Url(after.kernel!.entries),
      after.kernel!.from === 0 ? good : new Uint8Array(0),
    );
    assert.ok(
      events.some((e) => e.startsWith('kernel_log_failed') && e.includes('KERNEL_LOG_MALFORMED')),
      events.join('\n'),
    );
    // Still alive: it serves and quotes.
    const res = await fetch(`${agent.url}/v1/chat/completions`, { method: 'POST', body: '{}' });
    assert.equal(res.status, 200);
    await res.arrayBuffer();
  } finally {
    await agent.close();
    await v.close();
  }
});

test('kernel: false sends "kernel": null and says so once; a configured securityfs without a log or an app PCR of 8-10 refuse to start', async () => {
  const v = await new FakeVerifier().start();
  const events: string[] = [];
  const agent = await agentWith('k4', v, false, 11, events);
  try {
    const ev = await v.waitFor(() => true, 'at all');
    assert.equal(ev.kernel, null);
    assert.equal(ev.boot, null);
    assert.deepEqual([...quoted(ev).keys()], [...SELECTED, 11]);
    assert.equal(events.filter((e) => e.startsWith('kernel_ima_absent')).length, 1);
  } finally {
    await agent.close();
    await v.close();
  }
  await assert.rejects(agentWith('k5', v, join(dir, 'no-securityfs'), 11), {
    code: 'AGENT_CONFIG_INVALID',
    message: /no readable kernel IMA log/,
  });
  const fs = await new FakeSecurityfs(join(dir, 'sfs-5')).create();
  await assert.rejects(agentWith('k6', v, fs.dir, 10), {
    code: 'AGENT_CONFIG_INVALID',
    message: /use 11..15/,
  });
});

test("a change in the agent's own measurement log (weights swapped) is quoted with no traffic", async () => {
  const weights = join(dir, 'w.gguf');
  await writeFile(weights, 'GGUF v1');
  const v = await new FakeVerifier().start();
  const agent = await startAgent(
    {
      upstream: upstream.url,
      dataDir: join(dir, 'k7'),
      name: 'k7',
      verifier: { url: v.url, token: 'fake-verifier-token-0123456789' },
      tpm: tpm.tcti,
      appPcr: 15,
      kernel: false,
      measure: { weights: [weights], agentBuild: false, watchMs: 100 },
      checkpointMinIntervalMs: 100,
      hostPollMs: 100,
    },
    () => {},
  );
  try {
    const first = await v.waitFor(() => true, 'a first');
    const before = parseBinaryLog(fromBase64Url(first.log.entries)).length;
    await writeFile(weights, 'GGUF v2, another size');
    const swapped = await v.waitFor(
      (e) =>
        e.log.from >= before &&
        parseBinaryLog(fromBase64Url(e.log.entries), { firstIndex: e.log.from }).some(
          (x) => x.path === weights,
        ),
      'with the re-measured weights',
    );
    assert.equal(swapped.log.from, before);
  } finally {
    await agent.close();
    await v.close();
  }
});
