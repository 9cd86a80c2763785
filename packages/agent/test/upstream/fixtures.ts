import fc from 'fast-check';
import type { MapsRow } from '../../src/upstream/maps.ts';
import { formatIpv6, type TcpRow, type UnixRow } from '../../src/upstream/net.ts';

// Formatters that write tables the way the kernel prints them (for round-trip properties and fake
// /proc trees), and fast-check arbitraries of tables. Little-endian host byte order, as net.ts assumes.

const hex = (n: number | bigint, width: number) => n.toString(16).toUpperCase().padStart(width, '0');

function addressBytes(a: string, family: 4 | 6): Uint8Array {
  if (family === 4) return new Uint8Array(a.split('.').map(Number));
  // expand WHATWG form
  const [head, tail] = a.includes('::') ? a.split('::') : [a, undefined];
  const h = head ? head.split(':') : [];
  const t = tail === undefined ? [] : tail ? tail.split(':') : [];
  const groups = [...h, ...Array(8 - h.length - t.length).fill('0'), ...t].map((g) => Number.parseInt(g, 16));
  const out = new Uint8Array(16);
  groups.forEach((g, i) => {
    out[2 * i] = g >> 8;
    out[2 * i + 1] = g & 255;
  });
  return out;
}

/** The address as the kernel prints it: each 32-bit word in little-endian order, %08X. */
export function kernelHex(a: string, family: 4 | 6): string {
  const b = addressBytes(a, family);
  let s = '';
  for (let w = 0; w < b.length; w += 4) s += [3, 2, 1, 0].map((i) => hex(b[w + i]!, 2)).join('');
  return s;
}

/** /proc/net/tcp or tcp6 text for `rows` (all of one family). */
export function formatTcpTable(rows: readonly TcpRow[], family: 4 | 6): string {
  const head =
    family === 4
      ? '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode'
      : '  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode';
  const lines = rows.map(
    (r, i) =>
      `${String(i).padStart(4)}: ${kernelHex(r.localAddress, family)}:${hex(r.localPort, 4)} ${kernelHex(r.remoteAddress, family)}:${hex(r.remotePort, 4)} ${hex(r.state, 2)} 00000000:00000000 00:00000000 00000000 ${String(r.uid).padStart(5)} ${String(0).padStart(8)} ${r.inode} 1 0000000000000000 100 0 0 10 0`,
  );
  return `${[head, ...lines].join('\n')}\n`;
}

/** /proc/net/unix text for `rows`. */
export function formatUnixTable(rows: readonly UnixRow[]): string {
  const lines = rows.map(
    (r) =>
      `0000000000000000: 00000002 00000000 ${hex(r.flags, 8)} ${hex(r.type, 4)} ${hex(r.state, 2)} ${String(r.inode).padStart(5)}${r.path === null ? '' : ` ${r.path}`}`,
  );
  return `${['Num       RefCount Protocol Flags    Type St Inode Path', ...lines].join('\n')}\n`;
}

/** /proc/<pid>/maps text for `rows` (the path column padded to column 73, as seq_pad does). */
export function formatMaps(rows: readonly MapsRow[]): string {
  return rows
    .map((r) => {
      const head = `${r.start.toString(16).padStart(8, '0')}-${r.end.toString(16).padStart(8, '0')} ${r.perms} ${r.offset.toString(16).padStart(8, '0')} ${r.dev} ${r.inode}`;
      if (r.path === null && !r.deleted) return head;
      return `${head.padEnd(72)} ${r.path ?? ''}${r.deleted ? ' (deleted)' : ''}`;
    })
    .map((l) => `${l}\n`)
    .join('');
}

const u64 = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n });
const ipv4 = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((b) => b.join('.'));
const ipv6 = fc
  .array(fc.oneof(fc.constant(0), fc.nat(0xffff)), { minLength: 8, maxLength: 8 })
  .map((g) => formatIpv6(new Uint8Array(g.flatMap((x) => [x >> 8, x & 255]))));

/** Generated tcp rows of one family. */
export const tcpRows = (family: 4 | 6) =>
  fc.array(
    fc
      .record({
        family: fc.constant(family),
        localAddress: family === 4 ? ipv4 : ipv6,
        localPort: fc.nat(0xffff),
        remoteAddress: family === 4 ? ipv4 : ipv6,
        remotePort: fc.nat(0xffff),
        state: fc.nat(0xff),
        uid: fc.nat(0xffffffff),
        inode: u64,
      })
      .map((r) => ({ ...r })), // fast-check records have a null prototype; parsers return plain objects
    { maxLength: 20 },
  );

// A bound path: no newline (the kernel prints it raw; see parseUnixTable), not empty, no trailing space.
const unixPath = fc.option(
  fc.stringMatching(/^[@/][!-~]{0,60}$/).filter((p) => !p.endsWith(' ')),
  { nil: null },
);

/** Generated unix rows. */
export const unixRows = fc.array(
  fc
    .record({
      flags: fc.nat(0xffffffff),
      type: fc.nat(0xffff),
      state: fc.nat(0xff),
      inode: u64,
      path: unixPath,
    })
    .map((r) => ({ ...r })),
  { maxLength: 20 },
);

/** Generated maps rows. */
export const mapsRows = fc.array(
  fc
    .record({
      start: fc.bigInt({ min: 0n, max: (1n << 48n) - 1n }),
      len: fc.bigInt({ min: 0n, max: 1n << 32n }),
      perms: fc.tuple(
        fc.constantFrom('r', '-'),
        fc.constantFrom('w', '-'),
        fc.constantFrom('x', '-'),
        fc.constantFrom('p', 's'),
      ),
      offset: fc.bigInt({ min: 0n, max: (1n << 48n) - 1n }),
      dev: fc
        .tuple(fc.nat(0xfff), fc.nat(0xfffff))
        .map(([a, b]) => `${a.toString(16).padStart(2, '0')}:${b.toString(16).padStart(2, '0')}`),
      inode: u64,
      path: fc.option(
        fc.oneof(
          fc.stringMatching(/^\/[!-~ ]{0,80}$/),
          fc.constantFrom('[heap]', '[stack]', '[vdso]', '[anon:v8]', '/memfd:sealed-1'),
        ),
        { nil: null },
      ),
      deleted: fc.boolean(),
    })
    .map(({ len, perms, ...r }) => ({ ...r, end: r.start + len, perms: perms.join('') }))
    // A path ending in " (deleted)" is the kernel's own ambiguity; an empty-looking path column (spaces only) too.
    .filter((r) => r.path === null || (!r.path.endsWith(' (deleted)') && r.path.trim() === r.path))
    .map((r) => (r.path === null ? { ...r, deleted: false } : r)),
  { maxLength: 20 },
);
