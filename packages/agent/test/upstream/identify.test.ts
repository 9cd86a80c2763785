import assert from 'node:assert/strict';
import { mkdir, mkdtemp, realpath, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { identifyUpstream, UpstreamWatch } from '../../src/upstream/index.ts';
import { nodeServer, python3, serve } from './servers.ts';

// Real processes: the identification must name the pid that listens, its executable and the
// files it holds, from /proc alone.

let dir: string;
let node: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tmb-upstream-'));
  node = await realpath(process.execPath);
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function file(name: string, text = 'weights'): Promise<string> {
  const p = join(dir, name);
  await writeFile(p, text);
  return realpath(p);
}

const isRoot = process.getuid?.() === 0;
const rootOnly = isRoot ? {} : { skip: 'reading another process fds needs root (the agent runs as root)' };

test(
  'a node server on 127.0.0.1: its pid, exe and the files it holds, a deleted one marked',
  rootOnly,
  async () => {
    const held = await file('model.safetensors');
    const gone = await file('gone.gguf');
    const { cmd, args } = nodeServer(dir, { host: '127.0.0.1', files: [held], unlink: gone });
    const s = await serve(cmd, args);
    try {
      const id = await identifyUpstream(`http://127.0.0.1:${s.ready.port}/v1`);
      assert.equal(id.kind, 'local', JSON.stringify(id));
      if (id.kind !== 'local') return;
      assert.deepEqual(
        id.processes.map((p) => p.pid),
        [s.child.pid],
      );
      const p = id.processes[0]!;
      assert.equal(p.exe, node);
      assert.equal(p.cmdline[0], cmd);
      assert.ok(p.files.includes(held), `${held} in ${p.files.join(', ')}`);
      assert.ok(p.files.includes(`${gone} (deleted)`), 'the unlinked file is listed with the kernel marker');
      assert.ok(p.files.includes(node), 'the mapped executable is listed');
      assert.ok(!p.files.some((f) => f.startsWith('/dev/') || f.startsWith('/proc/')));
      assert.deepEqual(p.files, [...new Set(p.files)].sort());
      assert.equal(id.sockets.length, 1);
      assert.equal(id.sockets[0]!.address, `127.0.0.1:${s.ready.port}`);
      assert.match(id.sockets[0]!.inode, /^[1-9][0-9]*$/);
      assert.equal(id.scan.unreadable, 0);
      assert.ok(id.scan.processes > 1);
      // localhost resolves to loopback only here: the same server.
      const viaName = await identifyUpstream(`http://localhost:${s.ready.port}`);
      assert.equal(viaName.kind, 'local');
      assert.deepEqual(viaName.kind === 'local' && viaName.processes.map((x) => x.pid), [s.child.pid]);
    } finally {
      await s.stop();
    }
  },
);

test('the listening socket shared with a forked worker: both pids, sorted', rootOnly, async () => {
  const { cmd, args } = nodeServer(dir, { host: '127.0.0.1', worker: true });
  const s = await serve(cmd, args);
  try {
    const id = await identifyUpstream(`http://127.0.0.1:${s.ready.port}`);
    assert.equal(id.kind, 'local', JSON.stringify(id));
    if (id.kind !== 'local') return;
    const want = [s.child.pid!, ...(s.ready.workers ?? [])].sort((a, b) => a - b);
    assert.equal(want.length, 2);
    assert.deepEqual(
      id.processes.map((p) => p.pid),
      want,
    );
  } finally {
    await s.stop();
  }
});

test('IPv6 loopback: http://[::1]:PORT', rootOnly, async (t) => {
  const probe = createServer();
  const ok = await new Promise<boolean>((res) => {
    probe.once('error', () => res(false));
    probe.listen(0, '::1', () => res(true));
  });
  probe.close();
  if (!ok) return t.skip('no IPv6 loopback on this host');
  const { cmd, args } = nodeServer(dir, { host: '::1' });
  const s = await serve(cmd, args);
  try {
    const id = await identifyUpstream(`http://[::1]:${s.ready.port}`);
    assert.equal(id.kind, 'local', JSON.stringify(id));
    assert.deepEqual(id.kind === 'local' && id.processes.map((p) => p.pid), [s.child.pid]);
    assert.deepEqual(id.kind === 'local' && id.sockets.map((l) => l.address), [`[::1]:${s.ready.port}`]);
    // 127.0.0.1 on the same port reaches nothing: a socket bound to ::1 does not accept IPv4.
    const v4 = await identifyUpstream(`http://127.0.0.1:${s.ready.port}`);
    assert.equal(v4.kind, 'none');
  } finally {
    await s.stop();
  }
});

test('a unix-socket upstream', rootOnly, async () => {
  const path = join(dir, 'engine.sock');
  const { cmd, args } = nodeServer(dir, { unixPath: path });
  const s = await serve(cmd, args);
  try {
    const id = await identifyUpstream(`unix:${path}`);
    assert.equal(id.kind, 'local', JSON.stringify(id));
    assert.deepEqual(id.kind === 'local' && id.processes.map((p) => p.pid), [s.child.pid]);
    assert.deepEqual(id.kind === 'local' && id.sockets.map((l) => l.address), [`unix:${path}`]);
  } finally {
    await s.stop();
  }
});

test('a python3 http.server with an mmapped file whose fd is closed: found through maps', async (t) => {
  const py = python3();
  if (py === null) return t.skip('python3 is not installed');
  if (!isRoot) return t.skip(rootOnly.skip);
  const weights = await file('model.gguf', 'GGUF'.repeat(1024));
  const script = [
    'import http.server, json, mmap, sys',
    `f = open(${JSON.stringify(weights)}, "rb"); m = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ); f.close()`,
    's = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)',
    'print(json.dumps({"port": s.server_address[1]}), flush=True)',
    's.serve_forever()',
  ].join('\n');
  const s = await serve(py, ['-c', script]);
  try {
    const id = await identifyUpstream(`http://127.0.0.1:${s.ready.port}`);
    assert.equal(id.kind, 'local', JSON.stringify(id));
    if (id.kind !== 'local') return;
    assert.deepEqual(
      id.processes.map((p) => p.pid),
      [s.child.pid],
    );
    assert.equal(id.processes[0]!.exe, await realpath(py));
    assert.ok(id.processes[0]!.files.includes(weights), 'the mmapped weights are listed');
  } finally {
    await s.stop();
  }
});

test('a port nobody listens on: none / no-listener, never a throw', async () => {
  const probe = createServer();
  await new Promise<void>((res) => probe.listen(0, '127.0.0.1', res));
  const port = (probe.address() as { port: number }).port;
  await new Promise((res) => probe.close(res));
  const id = await identifyUpstream(`http://127.0.0.1:${port}`);
  assert.equal(id.kind, 'none');
  assert.equal(id.kind === 'none' && id.reason, 'no-listener');
  assert.match(id.kind === 'none' ? id.detail : '', /network namespace/);
  const unix = await identifyUpstream(`unix:${join(dir, 'nobody.sock')}`);
  assert.equal(unix.kind === 'none' && unix.reason, 'no-listener');
});

test('a host not on loopback is remote; a bad URL is AGENT_CONFIG_INVALID', async () => {
  assert.deepEqual(await identifyUpstream('http://203.0.113.7:8000/v1'), {
    kind: 'remote',
    host: '203.0.113.7',
  });
  assert.deepEqual(await identifyUpstream('https://[2001:db8::1]/'), { kind: 'remote', host: '2001:db8::1' });
  assert.deepEqual(await identifyUpstream('http://tmb-nowhere.invalid:80'), {
    kind: 'remote',
    host: 'tmb-nowhere.invalid',
  });
  for (const bad of ['ftp://127.0.0.1/', 'not a url', 'unix:relative.sock'])
    await assert.rejects(identifyUpstream(bad), { name: 'AgentError', code: 'AGENT_CONFIG_INVALID' });
});

test(
  'bounds: a deadline or process cap passed is none / scan-incomplete, not a partial answer',
  rootOnly,
  async () => {
    const { cmd, args } = nodeServer(dir, { host: '127.0.0.1' });
    const s = await serve(cmd, args);
    try {
      const url = `http://127.0.0.1:${s.ready.port}`;
      const late = await identifyUpstream(url, { timeoutMs: 0 });
      assert.equal(late.kind === 'none' && late.reason, 'scan-incomplete');
      const few = await identifyUpstream(url, { maxProcesses: 1 });
      assert.equal(few.kind === 'none' && few.reason, 'scan-incomplete');
    } finally {
      await s.stop();
    }
  },
);

test(
  'UpstreamWatch.check re-reads only the holders, and walks again when the server is gone',
  rootOnly,
  async () => {
    const { cmd, args } = nodeServer(dir, { host: '127.0.0.1' });
    const s = await serve(cmd, args);
    const w = new UpstreamWatch(`http://127.0.0.1:${s.ready.port}`);
    try {
      assert.equal(w.current, null);
      const first = await w.identify();
      assert.equal(first.kind, 'local');
      const again = await w.check();
      assert.equal(again.kind, 'local');
      assert.equal(again.kind === 'local' && again.scan.processes, 0, 'no walk of /proc');
      assert.deepEqual(again.kind === 'local' && again.processes.map((p) => p.pid), [s.child.pid]);
      assert.equal(w.current, again);
    } finally {
      await s.stop();
    }
    const after = await w.check();
    assert.equal(after.kind === 'none' && after.reason, 'no-listener');
  },
);

test('a /proc whose tables are not the kernel format: proc-malformed; missing: proc-unreadable', async () => {
  const proc = join(dir, 'fakeproc');
  await mkdir(join(proc, 'net'), { recursive: true });
  const url = 'http://127.0.0.1:8080';
  assert.equal(((await identifyUpstream(url, { proc })) as { reason?: string }).reason, 'proc-unreadable');
  await writeFile(join(proc, 'net', 'tcp'), '  sl  local_address\n   0: nonsense\n');
  const bad = await identifyUpstream(url, { proc });
  assert.equal(bad.kind === 'none' && bad.reason, 'proc-malformed');
  assert.match(bad.kind === 'none' ? bad.detail : '', /\/proc\/net\/tcp line 2/);
});
