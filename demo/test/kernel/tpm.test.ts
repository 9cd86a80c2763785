import assert from 'node:assert/strict';
import { connect, createServer, type Socket } from 'node:net';
import { test } from 'node:test';
import { fromHex, ParseError, toHex } from '@tmb/core';
import fc from 'fast-check';
import { KernelSimError } from '../../src/kernel/errors.ts';
import { TpmLink } from '../../src/kernel/link.ts';
import { startTpmProxy } from '../../src/kernel/proxy.ts';
import { checkResponse, decodePcrRead, encodePcrExtend, encodePcrRead } from '../../src/kernel/tpm.ts';

// Known answers written out field by field from TPM 2.0 Part 3 (22.2 PCR_Extend, 22.4 PCR_Read).
test('TPM2_PCR_Extend and TPM2_PCR_Read encode as Part 3 lays them out', () => {
  const d = new Uint8Array(32).fill(0xab);
  assert.equal(
    toHex(encodePcrExtend(10, d)),
    `80020000004100000182` +
      `0000000a` +
      `00000009` +
      `40000009` +
      `0000` +
      `00` +
      `0000` +
      `00000001` +
      `000b` +
      'ab'.repeat(32),
  );
  assert.equal(
    toHex(encodePcrRead([0, 9, 10])),
    '8001' + '00000014' + '0000017e' + '00000001000b03' + '010600',
  );
});

test('a PCR_Read response decodes; a failing or malformed one throws SIMKERNEL_TPM_FAILED', () => {
  const v = 'cd'.repeat(32);
  const ok = fromHex(`80010000003e00000000` + `00000007` + `00000001000b03000400` + `00000001` + `0020${v}`);
  assert.equal(toHex(decodePcrRead(ok).get(10)!), v);
  const code = (f: () => unknown) =>
    assert.throws(f, (e) => e instanceof KernelSimError && e.code === 'SIMKERNEL_TPM_FAILED');
  code(() => checkResponse(fromHex('80010000000a00000101'), 'x')); // TPM_RC_FAILURE
  code(() => checkResponse(fromHex('8001'), 'x'));
  // Two PCRs selected, one digest returned.
  code(() =>
    decodePcrRead(
      fromHex(`80010000003e00000000` + `00000007` + `00000001000b03000600` + `00000001` + `0020${v}`),
    ),
  );
  // A digest length past the response.
  assert.throws(() => decodePcrRead(fromHex(`800100000020000000000000000700000001000b0300040000000001ffff`)));
});

test('property: any bytes as a PCR_Read response decode or throw a named error, never anything else', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 128 }), fc.boolean(), (tail, asSuccess) => {
      // Half the cases start with a success header so that the body parser is reached.
      const bytes = asSuccess ? new Uint8Array([...fromHex('80010000000000000000'), ...tail]) : tail;
      try {
        for (const v of decodePcrRead(bytes).values()) assert.ok(v.length <= 32);
      } catch (e) {
        assert.ok(e instanceof KernelSimError || e instanceof ParseError, String(e));
      }
    }),
  );
});

/** A fake swtpm data port: answers every whole command with TPM_RC_SUCCESS after `delayMs`. */
async function fakeSwtpm(delayMs = 0): Promise<{ port: number; close: () => void; seen: number[] }> {
  const seen: number[] = [];
  const socks = new Set<Socket>();
  const srv = createServer((s) => {
    socks.add(s);
    s.on('data', (d) => {
      seen.push(d.length);
      setTimeout(() => s.write(fromHex('80010000000a00000000')), delayMs);
    });
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  return {
    port: (srv.address() as { port: number }).port,
    seen,
    close: () => {
      for (const s of socks) s.destroy();
      srv.close();
    },
  };
}

function client(port: number): Promise<Socket> {
  return new Promise((r) => {
    const s = connect(port, '127.0.0.1', () => r(s));
  });
}

const read = (s: Socket, n: number) =>
  new Promise<Buffer>((resolve) => {
    let b = Buffer.alloc(0);
    const on = (d: Buffer) => {
      b = Buffer.concat([b, d]);
      if (b.length >= n) {
        s.off('data', on);
        resolve(b);
      }
    };
    s.on('data', on);
  });

test('the proxy forwards whole commands, one client at a time, and refuses one over 64 KiB', async () => {
  const up = await fakeSwtpm();
  const link = new TpmLink('127.0.0.1', up.port);
  const proxy = await startTpmProxy(link, () => undefined);
  try {
    const a = await client(proxy.port);
    const b = await client(proxy.port);
    const cmd = encodePcrRead([0]);
    a.write(cmd.subarray(0, 3)); // split: forwarded only once whole
    a.write(cmd.subarray(3));
    assert.equal(toHex(await read(a, 10)), '80010000000a00000000');
    assert.deepEqual(up.seen, [cmd.length]);
    const bAnswer = read(b, 10);
    b.write(cmd); // b waits for a to leave
    const early = await Promise.race([
      bAnswer.then(() => 'answered'),
      new Promise((r) => setTimeout(() => r('waiting'), 200)),
    ]);
    assert.equal(early, 'waiting');
    a.destroy();
    assert.equal((await bAnswer).length, 10);
    b.write(fromHex('8001000200000000017e')); // claims 128 KiB
    await new Promise((r) => b.once('close', r));
  } finally {
    await proxy.close();
    link.close();
    up.close();
  }
});

test('a stuck upstream times out and the next command reconnects', async () => {
  const up = await fakeSwtpm(400);
  const link = new TpmLink('127.0.0.1', up.port, 100);
  try {
    await assert.rejects(
      link.send(encodePcrRead([0])),
      (e) => e instanceof KernelSimError && e.code === 'SIMKERNEL_TPM_FAILED',
    );
    const slow = new TpmLink('127.0.0.1', up.port, 2_000);
    assert.equal((await slow.send(encodePcrRead([0]))).length, 10);
    slow.close();
  } finally {
    link.close();
    up.close();
  }
});
