import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseBinaryLog, replay } from '@tmb/core/ima';
import {
  AGENT_BUILD_EVENT,
  agentBuild,
  MANIFEST_EVENT,
  MeasurementLog,
  measureHost,
  ROLE_EVENT,
  startHostMeasurement,
} from '../../src/measure/index.ts';

const hex = (...parts: (Uint8Array | string)[]) => {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest('hex');
};

/** A recording software PCR: every extend the log asked for, in order. */
function recordingPcr() {
  const pcr = { value: new Uint8Array(32), calls: [] as { index: number; digest: string }[] };
  const extend = (index: number, digest: Uint8Array) => {
    pcr.calls.push({ index, digest: Buffer.from(digest).toString('hex') });
    pcr.value = new Uint8Array(createHash('sha256').update(pcr.value).update(digest).digest());
  };
  return { pcr, extend };
}

async function host(t: { after(fn: () => Promise<void>): void }) {
  const dir = await mkdtemp(join(tmpdir(), 'tmb-host-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await mkdir(join(dir, 'weights'));
  await writeFile(join(dir, 'weights', 'model-00001.safetensors'), 'shard one');
  await writeFile(join(dir, 'weights', 'model-00002.safetensors'), 'shard two');
  await writeFile(join(dir, 'llama-server'), '#!/bin/sh\necho engine\n');
  await writeFile(join(dir, 'engine.json'), '{"ctx":4096}');
  return dir;
}

test('measures a weights directory, the engine and its config, each after its role event; the log replays to the extended PCR', async (t) => {
  const dir = await host(t);
  const { pcr, extend } = recordingPcr();
  const log = new MeasurementLog({ extend, pcrIndex: 15 });
  const m = await measureHost(log, {
    weights: [join(dir, 'weights')],
    engineExe: join(dir, 'llama-server'),
    engineConfig: [join(dir, 'engine.json')],
  });
  const manifest = `${hex('shard one')}  model-00001.safetensors\n${hex('shard two')}  model-00002.safetensors\n`;
  assert.deepEqual(m.paths, [
    { role: 'weights', path: join(dir, 'weights'), digest: `sha256:${hex(manifest)}` },
    { role: 'engine', path: join(dir, 'llama-server'), digest: `sha256:${hex('#!/bin/sh\necho engine\n')}` },
    { role: 'engine-config', path: join(dir, 'engine.json'), digest: `sha256:${hex('{"ctx":4096}')}` },
  ]);
  assert.equal(m.agentBuild, (await agentBuild()).digest);
  const names = log.entries.map((e) => e.path);
  assert.deepEqual(names, [
    AGENT_BUILD_EVENT,
    `${ROLE_EVENT}weights`,
    join(dir, 'weights', 'model-00001.safetensors'),
    join(dir, 'weights', 'model-00002.safetensors'),
    `${MANIFEST_EVENT}${join(dir, 'weights')}`,
    `${ROLE_EVENT}engine`,
    join(dir, 'llama-server'),
    `${ROLE_EVENT}engine-config`,
    join(dir, 'engine.json'),
  ]);
  assert.equal(new TextDecoder().decode(log.entries[1]!.extra!), join(dir, 'weights'));
  // One extend per entry, into the application PCR, and the replay of the binary log equals it.
  assert.equal(pcr.calls.length, log.entries.length);
  assert.ok(pcr.calls.every((c) => c.index === 15));
  const replayed = replay(parseBinaryLog(log.binary()), { pcrIndex: 15, bank: 'sha256' });
  assert.equal(Buffer.from(replayed.pcr).toString('hex'), Buffer.from(pcr.value).toString('hex'));
});

test('a changed weights file appends new entries (never rewriting) and the PCR follows', async (t) => {
  const dir = await host(t);
  const { pcr, extend } = recordingPcr();
  const log = new MeasurementLog({ extend, pcrIndex: 14 });
  await measureHost(log, { weights: [join(dir, 'weights')], agentBuild: false });
  const before = log.binary();
  assert.equal((await log.remeasure()).length, 0, 'nothing changed, nothing appended');
  await writeFile(join(dir, 'weights', 'model-00002.safetensors'), 'a cheaper shard');
  const added = await log.remeasure();
  assert.deepEqual(
    added.map((e) => e.path),
    [join(dir, 'weights', 'model-00002.safetensors'), `${MANIFEST_EVENT}${join(dir, 'weights')}`],
  );
  const after = log.binary();
  assert.deepEqual(after.subarray(0, before.length), before, 'the earlier log is a prefix');
  const replayed = replay(parseBinaryLog(after), { pcrIndex: 14, bank: 'sha256' });
  assert.deepEqual(replayed.pcr, pcr.value);
});

test('agentBuild: a manifest of agent/src, core/src and stats/src, whose digest changes with any source byte', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'tmb-build-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  await mkdir(join(root, 'agent', 'src'), { recursive: true });
  await mkdir(join(root, 'core', 'src', 'ima'), { recursive: true });
  await writeFile(join(root, 'agent', 'src', 'agent.ts'), 'export {}');
  await writeFile(join(root, 'core', 'src', 'ima', 'replay.ts'), 'export {}');
  await mkdir(join(root, 'stats', 'src'), { recursive: true });
  await writeFile(join(root, 'stats', 'src', 'index.ts'), 'export {};');
  const a = await agentBuild(root);
  assert.equal(
    new TextDecoder().decode(a.manifest),
    `${hex('export {}')}  agent/src/agent.ts\n${hex('export {}')}  core/src/ima/replay.ts\n${hex('export {};')}  stats/src/index.ts\n`,
  );
  assert.equal(a.digest, `sha256:${hex(a.manifest)}`);
  await writeFile(join(root, 'core', 'src', 'ima', 'replay.ts'), 'export {};');
  assert.notEqual((await agentBuild(root)).digest, a.digest);
});

test('without a TPM: the log starts with the key event and is posted whole to the verifier, again after a change', async (t) => {
  const dir = await host(t);
  const posts: { auth: string | undefined; body: { agent: string; entries: string } }[] = [];
  const { createServer } = await import('node:http');
  const server = createServer((req, res) => {
    let text = '';
    req.on('data', (c) => (text += c));
    req.on('end', () => {
      posts.push({ auth: req.headers.authorization, body: JSON.parse(text) });
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"entries":1}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => server.close(() => r())));
  const { port } = server.address() as { port: number };
  const key = new Uint8Array(32).fill(7);
  const h = await startHostMeasurement({
    spec: { weights: [join(dir, 'llama-server')], agentBuild: false },
    log: undefined,
    publicKey: key,
    pcr: 15,
    name: 'gpu-1',
    verifier: { url: `http://127.0.0.1:${port}`, token: 'secret-token-0123456789' },
    emit: () => {},
    watchMs: 3_600_000,
  });
  assert.ok(h);
  t.after(() => h.stop());
  assert.equal(h.quoted, false);
  assert.equal(posts.length, 1);
  assert.equal(posts[0]!.auth, 'Bearer secret-token-0123456789');
  const sent = parseBinaryLog(new Uint8Array(Buffer.from(posts[0]!.body.entries, 'base64url')));
  assert.deepEqual(
    sent.map((e) => e.path),
    ['tmb.agent-key', `${ROLE_EVENT}weights`, join(dir, 'llama-server')],
  );
  assert.deepEqual(sent[0]!.extra, key);
  assert.equal(await h.remeasure(), 0);
  assert.equal(posts.length, 1, 'nothing new, nothing posted');
  await writeFile(join(dir, 'llama-server'), 'swapped');
  assert.equal(await h.remeasure(), 1);
  assert.equal(posts.length, 2);
  assert.equal(parseBinaryLog(new Uint8Array(Buffer.from(posts[1]!.body.entries, 'base64url'))).length, 4);
});

test('an empty spec measures nothing', async () => {
  const r = await startHostMeasurement({
    spec: { weights: [], agentBuild: false },
    log: undefined,
    publicKey: new Uint8Array(32),
    pcr: 15,
    name: 'gpu-1',
    verifier: undefined,
    emit: () => {},
  });
  assert.equal(r, undefined);
});

test('a weights path that does not exist refuses the start with AGENT_CONFIG_INVALID naming it', async () => {
  const log = new MeasurementLog({ extend: () => {}, pcrIndex: 15 });
  await assert.rejects(
    measureHost(log, { weights: ['/nonexistent/model.gguf'], agentBuild: false }),
    (e: Error & { code?: string }) =>
      e.code === 'AGENT_CONFIG_INVALID' && /weights \/nonexistent\/model\.gguf/.test(e.message),
  );
  assert.equal(log.entries.length, 0, 'nothing logged for it');
});
