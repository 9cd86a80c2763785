import { AgentError } from '../errors.ts';

// Parsers of the kernel's socket tables under /proc/net (the reading process's network
// namespace). Every byte is attacker-controlled in the sense that matters here: root on the host
// can bind-mount any text over /proc/net/*, so each parser bounds its input and throws only
// AgentError('UPSTREAM_PROC_MALFORMED') for text that is not in the kernel's format.

/** Caps on the tables read (bytes and rows), so a hostile or huge table cannot exhaust memory. */
export const NET_LIMITS = {
  /** Bytes of one table file; a host with ~500,000 sockets prints about 75 MB of tcp rows. */
  tableBytes: 64 * 1024 * 1024,
  /** Characters of one row (a tcp6 row is 150; a unix row ends in a path of at most 108 bytes, escaped). */
  rowChars: 1024,
} as const;

/** One row of /proc/net/tcp or /proc/net/tcp6. */
export interface TcpRow {
  /** 4 for /proc/net/tcp, 6 for /proc/net/tcp6. */
  family: 4 | 6;
  /** Local address: dotted quad, or IPv6 in the WHATWG URL serialisation (RFC 5952 compression, no embedded IPv4). */
  localAddress: string;
  localPort: number;
  remoteAddress: string;
  remotePort: number;
  /** The kernel's TCP state (include/net/tcp_states.h): 0x0A is LISTEN, 0x01 ESTABLISHED. */
  state: number;
  uid: number;
  /** Socket inode, the number in an fd's `socket:[inode]` link; 0 for a socket no fd holds (TIME_WAIT). */
  inode: bigint;
}

/** TCP_LISTEN in include/net/tcp_states.h. */
export const TCP_LISTEN = 0x0a;

const U64_MAX = (1n << 64n) - 1n;

function malformed(table: string, line: number, detail: string): AgentError {
  return new AgentError('UPSTREAM_PROC_MALFORMED', `${table} line ${line}: ${detail}`);
}

/** Decimal unsigned integer of at most 20 digits, no sign, as the kernel's %lu/%u prints it. */
export function parseDecimal(text: string, max: bigint): bigint | null {
  if (!/^[0-9]{1,20}$/.test(text)) return null;
  if (text.length > 1 && text[0] === '0') return null; // %u never pads with zeros
  const n = BigInt(text);
  return n <= max ? n : null;
}

/** IPv6 address bytes in the WHATWG URL host serialisation (longest zero run of 2+ groups compressed). */
export function formatIpv6(bytes: Uint8Array): string {
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((bytes[i]! << 8) | bytes[i + 1]!);
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) [best, bestLen] = [i, j - i];
    i = j;
  }
  const hex = (g: number[]) => g.map((x) => x.toString(16)).join(':');
  if (best < 0) return hex(groups);
  return `${hex(groups.slice(0, best))}::${hex(groups.slice(best + bestLen))}`;
}

// The kernel prints each address as the in-memory __be32 words with %08X, i.e. each 32-bit word
// read in the host's byte order (net/ipv4/tcp_ipv4.c get_tcp4_sock, net/ipv6/tcp_ipv6.c
// get_tcp6_sock). Little-endian hosts (x86-64, arm64) are assumed: the bytes of each word are
// reversed. A big-endian host would print them in order.
function hexAddress(text: string, family: 4 | 6): string | null {
  const words = family === 4 ? 1 : 4;
  if (text.length !== words * 8 || !/^[0-9A-F]+$/.test(text)) return null;
  const bytes = new Uint8Array(words * 4);
  for (let w = 0; w < words; w++)
    for (let b = 0; b < 4; b++)
      bytes[w * 4 + b] = Number.parseInt(text.slice(w * 8 + (3 - b) * 2, w * 8 + (3 - b) * 2 + 2), 16);
  return family === 4 ? bytes.join('.') : formatIpv6(bytes);
}

function endpoint(text: string, family: 4 | 6): { address: string; port: number } | null {
  const colon = text.indexOf(':');
  if (colon < 0) return null;
  const address = hexAddress(text.slice(0, colon), family);
  const port = text.slice(colon + 1);
  if (address === null || !/^[0-9A-F]{4}$/.test(port)) return null;
  return { address, port: Number.parseInt(port, 16) };
}

function rows(text: string, table: string): [number, string][] {
  if (text.length > NET_LIMITS.tableBytes)
    throw malformed(table, 0, `${text.length} bytes over the cap of ${NET_LIMITS.tableBytes}`);
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  const out: [number, string][] = [];
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.length > NET_LIMITS.rowChars)
      throw malformed(table, i + 1, `${line.length} characters over the cap of ${NET_LIMITS.rowChars}`);
    out.push([i + 1, line]);
  }
  return out;
}

/**
 * Parses /proc/net/tcp (`family` 4) or /proc/net/tcp6 (`family` 6): the header line, then one
 * row per socket (`sl: local rem st tx:rx tr:when retrnsmt uid timeout inode ...`; the columns
 * after the inode differ by state and are ignored).
 * @throws AgentError UPSTREAM_PROC_MALFORMED naming the line and the field.
 */
export function parseTcpTable(text: string, family: 4 | 6): TcpRow[] {
  const table = family === 4 ? '/proc/net/tcp' : '/proc/net/tcp6';
  if (!/^\s*sl\s+local_address\s/.test(text)) throw malformed(table, 1, 'no "sl local_address" header');
  const out: TcpRow[] = [];
  for (const [n, line] of rows(text, table)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 10) throw malformed(table, n, `${f.length} columns, expected at least 10`);
    if (!/^[0-9]+:$/.test(f[0]!)) throw malformed(table, n, `slot ${JSON.stringify(f[0])} is not "N:"`);
    const local = endpoint(f[1]!, family);
    if (!local) throw malformed(table, n, `local address ${JSON.stringify(f[1])} is not HEX:PORT`);
    const remote = endpoint(f[2]!, family);
    if (!remote) throw malformed(table, n, `remote address ${JSON.stringify(f[2])} is not HEX:PORT`);
    if (!/^[0-9A-F]{2}$/.test(f[3]!))
      throw malformed(table, n, `state ${JSON.stringify(f[3])} is not 2 hex digits`);
    const uid = parseDecimal(f[7]!, 0xffffffffn);
    if (uid === null) throw malformed(table, n, `uid ${JSON.stringify(f[7])} is not a decimal u32`);
    const inode = parseDecimal(f[9]!, U64_MAX);
    if (inode === null) throw malformed(table, n, `inode ${JSON.stringify(f[9])} is not a decimal u64`);
    out.push({
      family,
      localAddress: local.address,
      localPort: local.port,
      remoteAddress: remote.address,
      remotePort: remote.port,
      state: Number.parseInt(f[3]!, 16),
      uid: Number(uid),
      inode,
    });
  }
  return out;
}

/** One row of /proc/net/unix. */
export interface UnixRow {
  /** Socket flags; __SO_ACCEPTCON (0x10000) is set on a listening socket. */
  flags: number;
  /** SOCK_STREAM 1, SOCK_DGRAM 2, SOCK_SEQPACKET 5. */
  type: number;
  /** SS_UNCONNECTED 1 ... SS_DISCONNECTING 4. */
  state: number;
  inode: bigint;
  /** The name bound at bind(2) time (`@name` for the abstract namespace), or null when unbound. */
  path: string | null;
}

/** __SO_ACCEPTCON in include/linux/net.h: the socket is listening. */
export const SO_ACCEPTCON = 0x10000;

/**
 * Parses /proc/net/unix (`Num RefCount Protocol Flags Type St Inode Path`, net/unix/af_unix.c
 * unix_seq_show). The kernel prints the bound path raw: a path that contains a newline would
 * split its row, so a row that does not parse is an error rather than skipped, and a caller must
 * treat every row that matches a path as a candidate (an injected row can add candidates, not hide
 * the real one).
 * @throws AgentError UPSTREAM_PROC_MALFORMED naming the line and the field.
 */
export function parseUnixTable(text: string): UnixRow[] {
  const table = '/proc/net/unix';
  if (!text.startsWith('Num ')) throw malformed(table, 1, 'no "Num RefCount ..." header');
  const out: UnixRow[] = [];
  for (const [n, line] of rows(text, table)) {
    const m =
      /^([0-9a-f]+): ([0-9A-F]{8}) ([0-9A-F]{8}) ([0-9A-F]{8}) ([0-9A-F]{4}) ([0-9A-F]{2}) +([0-9]+)(?: (.+))?$/.exec(
        line,
      );
    if (!m)
      throw malformed(table, n, `row ${JSON.stringify(line.slice(0, 80))} is not in the kernel's format`);
    const inode = parseDecimal(m[7]!, U64_MAX);
    if (inode === null) throw malformed(table, n, `inode ${JSON.stringify(m[7])} is not a decimal u64`);
    out.push({
      flags: Number.parseInt(m[4]!, 16),
      type: Number.parseInt(m[5]!, 16),
      state: Number.parseInt(m[6]!, 16),
      inode,
      path: m[8] ?? null,
    });
  }
  return out;
}
