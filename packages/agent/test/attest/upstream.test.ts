import assert from 'node:assert/strict';
import { realpathSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { startAgent } from '@tmb/agent';
import { provisionSwtpm, type Swtpm, startSwtpm } from '@tmb/agent/tpm';
import { upstreamEvidence } from '../../src/attest/upstream.ts';
import { nodeServer, type Served, serve } from '../upstream/servers.ts';
import { FakeVerifier } from './fake-verifier.ts';

// Evidence `upstream` (docs/upstream.md, docs/evidence.md) from a real agent on a real swtpm
// against the fake verifier: a real local HTTP server (a child process) that holds a weights
// file open is reported with its pid, executable and that file; a remote upstream and a port
// nothing listens on are reported as `remote` and `none`.

let dir: string;
let tpm: Swtpm;
let server: Served | undefined;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tmb-attest-upstream-'));
  tpm = await startSwtpm(await provisionSwtpm(join(dir, 'swtpm')));
});

after(async () => {
  await server?.stop();
  await tpm?.stop();
  await rm(dir, { recursive: true, force: true });
});

async function agentTo(name: string, upstream: string, v: FakeVerifier, appPcr: number) {
  return startAgent(
    {
      upstream,
      dataDir: join(dir, name),
      name,
      verifier: { url: v.url, token: 'fake-verifier-token-0123456789' },
      tpm: tpm.tcti,
      appPcr,
      kernel: false,
      checkpointIntervalMs: 200,
      checkpointMinIntervalMs: 100,
    },
    () => {},
  );
}

/** A loopback port nothing listens on (bound, read, closed). */
async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

test('the evidence names the local server process, its exe and the weights file it holds open', async () => {
  const weights = join(dir, 'model.gguf');
  await writeFile(weights, 'GGUF weights of a test model');
  const s = nodeServer(dir, { host: '127.0.0.1', files: [weights] });
  server = await serve(s.cmd, s.args);
  const v = await new FakeVerifier().start();
  const agent = await agentTo('u1', `http://127.0.0.1:${server.ready.port}`, v, 14);
  try {
    const ev = await v.waitFor((e) => e.upstream != null, 'with an upstream');
    const u = ev.upstream!;
    assert.equal(u.kind, 'local', JSON.stringify(u));
    assert.equal(u.reason, undefined);
    assert.deepEqual(
      u.processes.map((p) => p.pid),
      [server.child.pid],
    );
    assert.equal(u.processes[0]!.exe, realpathSync(process.execPath));
    assert.ok(u.processes[0]!.files.includes(realpathSync(weights)), u.processes[0]!.files.join('\n'));
    // A later quote (a receipt brings one) carries it again: check() re-describes the known holder.
    const n = v.evidence.length;
    const res = await fetch(`${agent.url}/v1/chat/completions`, { method: 'POST', body: '{"model":"m"}' });
    await res.arrayBuffer();
    const again = await v.waitFor((e) => v.evidence.indexOf(e) >= n, 'a later quote');
    assert.deepEqual(again.upstream?.processes[0]?.pid, server.child.pid);
  } finally {
    await agent.close();
    await v.close();
    await server.stop();
    server = undefined;
  }
});

test('a remote upstream and a port nothing listens on are reported as remote and none', async () => {
  const v = await new FakeVerifier().start();
  const remote = await agentTo('u2', 'http://192.0.2.7:8000', v, 13);
  try {
    const ev = await v.waitFor((e) => e.agent === 'u2' && e.upstream != null, 'remote');
    assert.deepEqual(ev.upstream, { kind: 'remote', reason: 'remote host 192.0.2.7', processes: [] });
  } finally {
    await remote.close();
  }
  const nothing = await agentTo('u3', `http://127.0.0.1:${await freePort()}`, v, 12);
  try {
    const ev = await v.waitFor((e) => e.agent === 'u3' && e.upstream != null, 'none');
    assert.equal(ev.upstream!.kind, 'none');
    assert.match(ev.upstream!.reason!, /^no-listener: /);
    assert.deepEqual(ev.upstream!.processes, []);
  } finally {
    await nothing.close();
    await v.close();
  }
});

test('upstreamEvidence bounds processes, files and paths, and keeps non-library files first', () => {
  const libs = Array.from({ length: 300 }, (_, i) => `/usr/lib/lib${String(i).padStart(3, '0')}.so.1`);
  const scan = { processes: 1, unreadable: 0, ms: 1 };
  const processes = Array.from({ length: 20 }, (_, pid) => ({
    pid: pid + 1,
    exe: pid === 0 ? `/${'x'.repeat(5000)}` : '/usr/bin/engine',
    cmdline: [],
    files: [...libs, '/w/model.safetensors', `/${'y'.repeat(4100)}`],
    truncated: false,
  }));
  const u = upstreamEvidence({ kind: 'local', sockets: [], processes, scan });
  assert.equal(u.processes.length, 16);
  assert.equal(u.processes[0]!.exe, null);
  assert.equal(u.processes[1]!.exe, '/usr/bin/engine');
  for (const p of u.processes) {
    assert.equal(p.files.length, 256);
    assert.ok(p.files.includes('/w/model.safetensors'));
    assert.ok(p.files.every((f) => f.length <= 4096));
  }
  const long = upstreamEvidence({ kind: 'none', reason: 'no-holder', detail: 'z'.repeat(2000), scan });
  assert.equal(long.reason!.length, 1024);
});
