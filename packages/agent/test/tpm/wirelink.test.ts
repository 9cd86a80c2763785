import assert from 'node:assert/strict';
import { createServer, type Server, type Socket } from 'node:net';
import { after, before, test } from 'node:test';
import fc from 'fast-check';
import { TpmDriverError } from '../../src/tpm/errors.ts';
import { pcrReadCommand } from '../../src/tpm/pcrcmd.ts';
import { type DeviceFile, TpmWire } from '../../src/tpm/wire.ts';

// The resident connection's framing (tpm/wire.ts) against a fake TPM on 127.0.0.1 that answers
// what each test tells it to, and a fake device file: bounded responses, a timeout on every
// command, a new connection after any failure, never a crash on bytes that are not a response.

const CMD = pcrReadCommand([{ hashAlg: 0x000b, pcrs: [16] }]);
const OK = new Uint8Array([0x80, 1, 0, 0, 0, 10, 0, 0, 0, 0]);

/** What the fake TPM does with each command it reads: answer bytes (maybe in pieces), or nothing. */
let answer: (s: Socket) => void = (s) => s.write(OK);
let server: Server;
let port: number;
let accepted = 0;
const sockets = new Set<Socket>();

before(async () => {
  server = createServer((s) => {
    accepted++;
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('data', () => answer(s));
    s.on('error', () => undefined);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as { port: number }).port;
});

after(async () => {
  for (const s of sockets) s.destroy();
  await new Promise((r) => server.close(r));
});

function wire(timeoutMs = 2_000): TpmWire {
  return new TpmWire({ kind: 'swtpm', port }, { timeoutMs, idleMs: 60_000, maxHoldMs: 60_000 });
}

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'answered';
  } catch (err) {
    assert.ok(err instanceof TpmDriverError, String(err));
    return err.code;
  }
}

test('one connection for many commands; a response in pieces is put together', async () => {
  const w = wire();
  answer = (s) => {
    s.write(OK.subarray(0, 3));
    setImmediate(() => s.write(OK.subarray(3)));
  };
  const before = accepted;
  for (let i = 0; i < 5; i++) assert.deepEqual(await w.send(CMD), OK);
  assert.equal(w.connects, 1);
  w.release();
  assert.equal(w.connected, false);
  assert.deepEqual(await w.send(CMD), OK);
  assert.equal(w.connects, 2);
  w.release();
  await waitFor(() => accepted - before === 2);
});

test('negative vectors: size field under 10 or over 4,096, bytes past the response, close, silence', async () => {
  const cases: [string, (s: Socket) => void, string][] = [
    ['size field 9', (s) => s.write(new Uint8Array([0x80, 1, 0, 0, 0, 9, 0, 0, 0])), 'TPM_RESPONSE_INVALID'],
    [
      'size field 5,000',
      (s) => s.write(new Uint8Array([0x80, 1, 0, 0, 0x13, 0x88, 0, 0, 0, 0])),
      'TPM_RESPONSE_INVALID',
    ],
    ['bytes past it', (s) => s.write(new Uint8Array([...OK, 1])), 'TPM_RESPONSE_INVALID'],
    ['closed after 4 bytes', (s) => s.end(OK.subarray(0, 4)), 'TPM_UNAVAILABLE'],
    ['short, then silence', (s) => s.write(OK.subarray(0, 8)), 'TPM_TOOL_TIMEOUT'],
    ['silence', () => undefined, 'TPM_TOOL_TIMEOUT'],
  ];
  for (const [what, a, code] of cases) {
    answer = a;
    const w = wire(300);
    assert.equal(await codeOf(w.send(CMD)), code, what);
    assert.equal(w.connected, false, `${what}: the connection is dropped`);
    answer = (s) => s.write(OK);
    assert.deepEqual(await w.send(CMD), OK, `${what}: the next command reconnects`);
    w.release();
  }
});

test('nothing listening: TPM_UNAVAILABLE, and a command is never sent twice', async () => {
  const w = new TpmWire({ kind: 'swtpm', port: 1 }, { timeoutMs: 2_000 });
  assert.equal(await codeOf(w.send(CMD)), 'TPM_UNAVAILABLE');
  let seen = 0;
  answer = (s) => {
    seen++;
    s.destroy();
  };
  assert.equal(await codeOf(wire().send(CMD)), 'TPM_UNAVAILABLE');
  assert.equal(seen, 1);
  answer = (s) => s.write(OK);
});

test('property: whatever a fake TPM answers, a command resolves a sized response or fails with a code', async () => {
  await fc.assert(
    fc.asyncProperty(fc.uint8Array({ minLength: 0, maxLength: 64 }), fc.boolean(), async (bytes, fix) => {
      const reply = new Uint8Array(bytes.length < 10 ? [...bytes] : bytes);
      if (fix && reply.length >= 10) new DataView(reply.buffer).setUint32(2, reply.length);
      answer = (s) => s.write(reply);
      const w = wire(150);
      try {
        const got = await w.send(CMD);
        assert.ok(got.length >= 10 && got.length === new DataView(got.buffer).getUint32(2));
      } catch (err) {
        assert.ok(err instanceof TpmDriverError, String(err));
      } finally {
        w.release();
      }
    }),
    { numRuns: 40 },
  );
  answer = (s) => s.write(OK);
});

/** A fake TPM device: each read gives what `reply` returns for the command last written. */
function device(reply: (cmd: Uint8Array) => Uint8Array | null): {
  open: () => Promise<DeviceFile>;
  closed: () => number;
} {
  let last = new Uint8Array(0);
  let closed = 0;
  const file: DeviceFile = {
    write: async (b) => {
      last = b.slice();
      return { bytesWritten: b.length };
    },
    read: (buf, offset, length) => {
      const r = reply(last);
      if (r === null) return new Promise(() => undefined); // a TPM that never answers
      const n = Math.min(r.length, length);
      buf.set(r.subarray(0, n), offset);
      return Promise.resolve({ bytesRead: n });
    },
    close: async () => {
      closed++;
    },
  };
  return { open: async () => file, closed: () => closed };
}

test('device: one write, one read; bad sizes, oversize and silence each fail and reopen', async () => {
  let reply: Uint8Array | null = OK;
  const dev = device(() => reply);
  const w = new TpmWire(
    { kind: 'device', path: '/dev/fake-tpmrm0' },
    { timeoutMs: 200, idleMs: 60_000, maxHoldMs: 60_000, openDevice: dev.open },
  );
  assert.deepEqual(await w.send(CMD), OK);
  assert.equal(w.connects, 1);
  for (const [what, r, code] of [
    ['short', OK.subarray(0, 6), 'TPM_RESPONSE_INVALID'],
    ['size field says 12', new Uint8Array([0x80, 1, 0, 0, 0, 12, 0, 0, 0, 0]), 'TPM_RESPONSE_INVALID'],
    ['5,000 bytes', new Uint8Array(5000).fill(0), 'TPM_RESPONSE_INVALID'],
    ['silence', null, 'TPM_TOOL_TIMEOUT'],
  ] as const) {
    reply = r;
    assert.equal(await codeOf(w.send(CMD)), code, what);
  }
  reply = OK;
  assert.deepEqual(await w.send(CMD), OK);
  assert.equal(w.connects, 5, 'each failure dropped the file; each next command opened it again');
  await waitFor(() => dev.closed() === 4);
  const missing = new TpmWire({ kind: 'device', path: '/nonexistent/tpmrm0' });
  assert.equal(await codeOf(missing.send(CMD)), 'TPM_UNAVAILABLE');
});

async function waitFor(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(cond(), 'condition not met within 5 s');
}
