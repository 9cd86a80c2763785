import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { parseCmdline, parseFdTarget, parseMaps } from '../../src/upstream/maps.ts';
import { parseTcpTable, parseUnixTable } from '../../src/upstream/net.ts';
import { formatMaps, formatTcpTable, formatUnixTable, mapsRows, tcpRows, unixRows } from './fixtures.ts';

// Known-answer vectors: rows copied from Linux 6.18 (x86-64) while a node server listened
// (`net.createServer().listen(0, '::1')`, `listen('/tmp/kat.sock')`), and from a process's maps.

const TCP4 = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode                                                     
   0: 00000000:07E8 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 242 1 000000000b6341e4 100 0 0 10 0                       
   1: 0100007F:8BA9 0100007F:D2F0 01 00000000:00000000 00:00000000 00000000  1000        0 114029 1 00000000f1789a22 20 4 30 10 -1                 
   2: 0100007F:9C42 0100007F:8BA9 06 00000000:00000000 03:00001539 00000000     0        0 0 3 0000000000000000                                    
`;

const TCP6 = `  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000001000000:9287 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 160192 1 00000000bb1438ab 100 0 0 10 0
   1: 0000000000000000FFFF00000100007F:1F90 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 7 1 00000000bb1438ab 100 0 0 10 0
`;

test('tcp: known rows (listen, established, time-wait with inode 0)', () => {
  const rows = parseTcpTable(TCP4, 4);
  assert.deepEqual(
    rows.map((r) => [r.localAddress, r.localPort, r.remoteAddress, r.remotePort, r.state, r.uid, r.inode]),
    [
      ['0.0.0.0', 2024, '0.0.0.0', 0, 0x0a, 0, 242n],
      ['127.0.0.1', 35753, '127.0.0.1', 54000, 0x01, 1000, 114029n],
      ['127.0.0.1', 40002, '127.0.0.1', 35753, 0x06, 0, 0n],
    ],
  );
});

test('tcp6: ::1 and an IPv4-mapped address, in the WHATWG serialisation', () => {
  const rows = parseTcpTable(TCP6, 6);
  assert.deepEqual(
    rows.map((r) => [r.localAddress, r.localPort, r.inode]),
    [
      ['::1', 37511, 160192n],
      ['::ffff:7f00:1', 8080, 7n],
    ],
  );
  assert.equal(new URL('http://[::ffff:127.0.0.1]/').hostname, '[::ffff:7f00:1]');
});

test('unix: a listening socket bound to a path', () => {
  const t =
    'Num       RefCount Protocol Flags    Type St Inode Path\n' +
    '0000000071fc68a2: 00000002 00000000 00010000 0001 01 160194 /tmp/kat.sock\n' +
    '000000009019f42d: 00000003 00000000 00000000 0001 03  1059\n' +
    '00000000aaaaaaaa: 00000002 00000000 00010000 0001 01  2000 @abstract name\n';
  assert.deepEqual(parseUnixTable(t), [
    { flags: 0x10000, type: 1, state: 1, inode: 160194n, path: '/tmp/kat.sock' },
    { flags: 0, type: 1, state: 3, inode: 1059n, path: null },
    { flags: 0x10000, type: 1, state: 1, inode: 2000n, path: '@abstract name' },
  ]);
});

test('maps: file, anonymous (trailing space), pseudo, deleted memfd, path with spaces', () => {
  const t =
    '5628eef9c000-5628eef9e000 r--p 00000000 fe:00 260386                     /usr/bin/head\n' +
    '5564f3d65000-5564f3d75000 rw-p 00000000 00:00 0 \n' +
    '55c392bda000-55c392c1d000 rw-p 00000000 00:00 0                          [heap]\n' +
    '7fe4d5282000-7fe4d528c000 r--p 00000000 00:01 1024                       /memfd:sealed-91173221a7ea (deleted)\n' +
    '7f0000000000-7f0100000000 r--s 00000000 103:02 77                         /models/my model.gguf\n';
  assert.deepEqual(
    parseMaps(t).map((r) => [r.path, r.deleted, r.inode, r.perms, r.dev]),
    [
      ['/usr/bin/head', false, 260386n, 'r--p', 'fe:00'],
      [null, false, 0n, 'rw-p', '00:00'],
      ['[heap]', false, 0n, 'rw-p', '00:00'],
      ['/memfd:sealed-91173221a7ea', true, 1024n, 'r--p', '00:01'],
      ['/models/my model.gguf', false, 77n, 'r--s', '103:02'],
    ],
  );
  assert.equal(parseMaps(t)[4]!.end - parseMaps(t)[4]!.start, 1n << 32n);
});

test('fd link targets', () => {
  assert.deepEqual(parseFdTarget('socket:[160194]'), { kind: 'socket', inode: 160194n });
  assert.deepEqual(parseFdTarget('/w/a.safetensors'), {
    kind: 'path',
    path: '/w/a.safetensors',
    deleted: false,
  });
  assert.deepEqual(parseFdTarget('/w/a.gguf (deleted)'), { kind: 'path', path: '/w/a.gguf', deleted: true });
  assert.deepEqual(parseFdTarget('pipe:[114958]'), { kind: 'pseudo', name: 'pipe:[114958]' });
  assert.deepEqual(parseFdTarget('anon_inode:[eventfd]'), { kind: 'pseudo', name: 'anon_inode:[eventfd]' });
});

test('cmdline: NUL-ended arguments, bounded', () => {
  const enc = new TextEncoder();
  assert.deepEqual(parseCmdline(enc.encode('python3\0-m\0http.server\0')), {
    args: ['python3', '-m', 'http.server'],
    truncated: false,
  });
  const many = parseCmdline(enc.encode('a\0'.repeat(300)));
  assert.equal(many.args.length, 256);
  assert.equal(many.truncated, true);
  assert.equal(parseCmdline(new Uint8Array(70_000).fill(0x61)).truncated, true);
});

test('property: parse(format(rows)) == rows for tcp, tcp6, unix and maps', () => {
  for (const family of [4, 6] as const)
    fc.assert(
      fc.property(tcpRows(family), (rows) => {
        assert.deepEqual(parseTcpTable(formatTcpTable(rows, family), family), rows);
      }),
    );
  fc.assert(
    fc.property(unixRows, (rows) => {
      assert.deepEqual(parseUnixTable(formatUnixTable(rows)), rows);
    }),
  );
  fc.assert(
    fc.property(mapsRows, (rows) => {
      assert.deepEqual(parseMaps(formatMaps(rows)), rows);
    }),
  );
});
