import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { AgentError } from '../../src/errors.ts';
import { parseCmdline, parseFdTarget, parseMaps } from '../../src/upstream/maps.ts';
import { NET_LIMITS, parseTcpTable, parseUnixTable } from '../../src/upstream/net.ts';

// Adversarial /proc text (root can bind-mount anything over /proc/net/tcp or /proc/<pid>/maps):
// each is AgentError UPSTREAM_PROC_MALFORMED naming where, never another exception.

const H4 =
  '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n';
const row = (local: string, state = '0A', uid = '0', inode = '242') =>
  `   0: ${local} 00000000:0000 ${state} 00000000:00000000 00:00000000 00000000 ${uid} 0 ${inode} 1 0 100 0 0 10 0\n`;

const isNamed = (e: unknown, message?: RegExp) => {
  assert.ok(e instanceof AgentError, `not an AgentError: ${String(e)}`);
  assert.equal(e.code, 'UPSTREAM_PROC_MALFORMED');
  if (message) assert.match(e.message, message);
  return true;
};

const tcpCases: [string, string, 4 | 6, RegExp][] = [
  ['no header', row('0100007F:1F90'), 4, /line 1: no "sl local_address" header/],
  ['too few columns', `${H4}   0: 0100007F:1F90 00000000:0000 0A\n`, 4, /line 2: 4 columns/],
  ['slot without colon', `${H4}${row('0100007F:1F90').replace('0:', '0')}`, 4, /slot "0"/],
  ['lower-case hex address', `${H4}${row('0100007f:1F90')}`, 4, /local address "0100007f:1F90"/],
  ['IPv6 width in tcp', `${H4}${row('00000000000000000000000001000000:1F90')}`, 4, /local address/],
  ['IPv4 width in tcp6', `${H4}${row('0100007F:1F90')}`, 6, /line 2: local address/],
  ['5-digit port', `${H4}${row('0100007F:11F90')}`, 4, /local address/],
  ['state of 3 digits', `${H4}${row('0100007F:1F90', '00A')}`, 4, /state "00A"/],
  ['uid over u32', `${H4}${row('0100007F:1F90', '0A', '4294967296')}`, 4, /uid "4294967296"/],
  ['negative inode', `${H4}${row('0100007F:1F90', '0A', '0', '-1')}`, 4, /inode "-1"/],
  ['inode over u64', `${H4}${row('0100007F:1F90', '0A', '0', '18446744073709551616')}`, 4, /inode/],
  ['inode with leading zero', `${H4}${row('0100007F:1F90', '0A', '0', '0242')}`, 4, /inode "0242"/],
  [
    'row over 1,024 characters',
    `${H4}${row('0100007F:1F90').trimEnd()}${' 0'.repeat(600)}\n`,
    4,
    /line 2: 1\d{3} characters over the cap/,
  ],
];

for (const [what, text, family, message] of tcpCases)
  test(`tcp: ${what} is UPSTREAM_PROC_MALFORMED`, () => {
    assert.throws(
      () => parseTcpTable(text, family),
      (e) => isNamed(e, message),
    );
  });

test('tcp: a table over the byte cap is refused before it is split', () => {
  assert.throws(
    () => parseTcpTable(`${H4}${'x'.repeat(NET_LIMITS.tableBytes)}`, 4),
    (e) => isNamed(e, /over the cap of 67108864/),
  );
});

const U = 'Num       RefCount Protocol Flags    Type St Inode Path\n';
const unixCases: [string, string, RegExp][] = [
  ['no header', '0000: 00000002 00000000 00010000 0001 01 5 /x\n', /line 1: no "Num/],
  ['short flags', `${U}0000: 00000002 00000000 0010000 0001 01 5 /x\n`, /line 2: row/],
  [
    'a path split by a newline leaves a row fragment',
    `${U}0000: 00000002 00000000 00010000 0001 01 5 /tmp/a\n0000: 00000002 00000000\n`,
    /line 3: row/,
  ],
  ['inode over u64', `${U}0000: 00000002 00000000 00010000 0001 01 99999999999999999999\n`, /inode/],
];
for (const [what, text, message] of unixCases)
  test(`unix: ${what} is UPSTREAM_PROC_MALFORMED`, () => {
    assert.throws(
      () => parseUnixTable(text),
      (e) => isNamed(e, message),
    );
  });

const mapsCases: [string, string, RegExp][] = [
  ['missing inode', '00400000-00452000 r-xp 00000000 08:02\n', /maps line 1/],
  ['perms of 3 characters', '00400000-00452000 r-x 00000000 08:02 1 /bin/x\n', /maps line 1/],
  ['end before start', '00452000-00400000 r-xp 00000000 08:02 1 /bin/x\n', /end address before start/],
  ['address of 17 digits', '00000000000000000-1 r-xp 00000000 08:02 1 /bin/x\n', /maps line 1/],
  ['second line bad', '00400000-00452000 r-xp 00000000 08:02 1 /bin/x\nnope\n', /maps line 2/],
  ['inode with leading zero', '00400000-00452000 r-xp 00000000 08:02 01 /bin/x\n', /inode "01"/],
  [
    'over-long line',
    `00400000-00452000 r-xp 00000000 08:02 1 /${'a'.repeat(20_000)}\n`,
    /characters over the cap/,
  ],
];
for (const [what, text, message] of mapsCases)
  test(`maps: ${what} is UPSTREAM_PROC_MALFORMED`, () => {
    assert.throws(
      () => parseMaps(text),
      (e) => isNamed(e, message),
    );
  });

const fdCases: [string, string, RegExp][] = [
  ['empty', '', /empty target/],
  ['socket without brackets', 'socket:123', /not socket:\[inode\]/],
  ['socket with a sign', 'socket:[-1]', /not socket:\[inode\]/],
  ['socket inode over u64', 'socket:[18446744073709551616]', /not socket:\[inode\]/],
  ['over-long path', `/${'a'.repeat(20_000)}`, /characters over the cap/],
];
for (const [what, text, message] of fdCases)
  test(`fd link: ${what} is UPSTREAM_PROC_MALFORMED`, () => {
    assert.throws(
      () => parseFdTarget(text),
      (e) => isNamed(e, message),
    );
  });

// Text near the format: rows built from the characters the tables use, and arbitrary strings.
const near = fc.array(
  fc.constantFrom('0', '1', 'A', 'F', 'f', ':', ' ', '\n', '-', '/', '[', ']', 'x', 'socket:'),
  {
    maxLength: 200,
  },
);
const text = fc.oneof(
  fc.string({ maxLength: 400 }),
  near.map((a) => a.join('')),
);

test('property: random text yields rows or UPSTREAM_PROC_MALFORMED, nothing else', () => {
  fc.assert(
    fc.property(text, fc.boolean(), (body, headed) => {
      const run = (f: () => unknown) => {
        try {
          f();
        } catch (e) {
          isNamed(e);
        }
      };
      run(() => parseTcpTable(headed ? H4 + body : body, 4));
      run(() => parseTcpTable(headed ? H4 + body : body, 6));
      run(() => parseUnixTable(headed ? U + body : body));
      run(() => parseMaps(body));
      run(() => parseFdTarget(body));
      parseCmdline(new TextEncoder().encode(body)); // never throws
    }),
    { numRuns: 2000 },
  );
});
