import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { identifyConnection, identifyUpstream, UpstreamWatch } from '../../src/upstream/index.ts';
import type { UpstreamIdentity } from '../../src/upstream/types.ts';
import { handoffServer, nodeServer, relayServer, serve } from './servers.ts';

// The connection-level answer: the process holding the server end of the agent's own connection,
// which is not always the process holding the listener.

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tmb-upstream-conn-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

const rootOnly =
  process.getuid?.() === 0 ? {} : { skip: 'reading another process fds needs root (the agent runs as root)' };

/** Connects, sends `send`, and resolves once the first bytes come back (the server has accepted). */
async function answered(port: number, send: string): Promise<Socket> {
  const s = connect(port, '127.0.0.1');
  await new Promise<void>((res, rej) => {
    const timer = setTimeout(() => rej(new Error('no answer in 10 s')), 10_000);
    s.once('error', rej);
    s.once('data', () => {
      clearTimeout(timer);
      res();
    });
    s.write(send);
  });
  return s;
}

const pids = (id: UpstreamIdentity) => (id.kind === 'local' ? id.processes.map((p) => p.pid) : id);
const localOf = (s: Socket) => ({ address: s.localAddress!, port: s.localPort! });

test('identifyConnection names the server end of the agent connection', rootOnly, async () => {
  const { cmd, args } = nodeServer(dir, { host: '127.0.0.1' });
  const s = await serve(cmd, args);
  const c = await answered(s.ready.port!, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n');
  try {
    const id = await identifyConnection(localOf(c));
    assert.deepEqual(pids(id), [s.child.pid]);
    assert.match(
      id.kind === 'local' ? id.sockets[0]!.address : '',
      new RegExp(`^127\\.0\\.0\\.1:${s.ready.port}<-127\\.0\\.0\\.1:${c.localPort}$`),
    );
  } finally {
    c.destroy();
    await s.stop();
  }
});

test(
  'an accepted connection handed to a worker: the listener names the parent, the connection the worker',
  rootOnly,
  async () => {
    const { cmd, args } = handoffServer(dir);
    const s = await serve(cmd, args);
    const worker = s.ready.workers![0]!;
    const c = await answered(s.ready.port!, '');
    try {
      assert.deepEqual(pids(await identifyUpstream(`http://127.0.0.1:${s.ready.port}`)), [s.child.pid]);
      // The parent closes its copy after the send completes: wait for that, bounded.
      let id: UpstreamIdentity = await identifyConnection(localOf(c));
      for (
        const until = Date.now() + 5000;
        JSON.stringify(pids(id)) !== JSON.stringify([worker]) && Date.now() < until;
      )
        id = await identifyConnection(localOf(c));
      assert.deepEqual(pids(id), [worker]);
      // The watch: its known holder (the parent) does not hold the connection, so it walks and says the worker.
      const w = new UpstreamWatch(`http://127.0.0.1:${s.ready.port}`);
      assert.deepEqual(pids(await w.identify()), [s.child.pid]);
      const conn = await w.connection(localOf(c));
      assert.deepEqual(pids(conn), [worker]);
      assert.ok(conn.kind === 'local' && conn.scan.processes > 0, 'walked /proc');
    } finally {
      c.destroy();
      await s.stop();
    }
  },
);

test(
  'swap-upstream through a relay: the relay process is what is reported, not the engine behind it',
  rootOnly,
  async () => {
    const e = nodeServer(dir, { host: '127.0.0.1' });
    const engine = await serve(e.cmd, e.args);
    const r = relayServer(dir, engine.ready.port!);
    const relay = await serve(r.cmd, r.args).catch(async (err) => {
      await engine.stop();
      throw err;
    });
    const c = await answered(relay.ready.port!, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    try {
      assert.deepEqual(pids(await identifyUpstream(`http://127.0.0.1:${relay.ready.port}`)), [
        relay.child.pid,
      ]);
      assert.deepEqual(pids(await identifyConnection(localOf(c))), [relay.child.pid]);
      const w = new UpstreamWatch(`http://127.0.0.1:${relay.ready.port}`);
      await w.identify();
      const cheap = await w.connection(localOf(c));
      assert.deepEqual(pids(cheap), [relay.child.pid]);
      assert.equal(
        cheap.kind === 'local' && cheap.scan.processes,
        0,
        'the known holder answered without a walk',
      );
    } finally {
      c.destroy();
      await relay.stop();
      await engine.stop();
    }
  },
);

test('a local end no connection has: none / no-peer', async () => {
  const id = await identifyConnection({ address: '127.0.0.1', port: 1 });
  assert.equal(id.kind === 'none' && id.reason, 'no-peer');
});
