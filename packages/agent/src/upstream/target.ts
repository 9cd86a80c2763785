import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { AgentError } from '../errors.ts';

/** Where an upstream URL leads, as the socket tables can see it. */
export type UpstreamTarget =
  /** A TCP port on a loopback address: `addresses` are the ones a connection may reach. */
  | { kind: 'tcp'; port: number; addresses: { family: 4 | 6; address: string }[] }
  /** A unix socket path (`unix:/run/engine.sock`). */
  | { kind: 'unix'; path: string }
  /** Anything not on this host's loopback. */
  | { kind: 'remote'; host: string };

const isLoopback4 = (a: string) => a.startsWith('127.');
// WHATWG-serialised IPv6 (net.ts formatIpv6 prints the same form): ::1, or an IPv4-mapped 127/8.
const isLoopback6 = (a: string) => a === '::1' || /^::ffff:7f[0-9a-f]{2}:[0-9a-f]{1,4}$/.test(a);

/** An IPv4-mapped IPv6 address (`::ffff:7f00:1`) as the dotted IPv4 it stands for. */
export function unmap(a: string): string {
  const m = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(a);
  if (!m) return a;
  const hi = Number.parseInt(m[1]!, 16);
  const lo = Number.parseInt(m[2]!, 16);
  return [hi >> 8, hi & 255, lo >> 8, lo & 255].join('.');
}

/** An IP address in the form net.ts prints: IPv6 in the WHATWG URL serialisation, IPv4 as given. */
export function canonicalIp(a: string): string {
  return isIP(a) === 6 ? new URL(`http://[${a}]/`).hostname.slice(1, -1) : a;
}

/**
 * Reads an upstream URL (`http(s)://HOST:PORT/...` or `unix:/path`) into the target the socket
 * tables are searched for. `localhost` and other names are resolved the way the agent's own
 * connection resolves them (getaddrinfo, so /etc/hosts counts): a name is loopback only when every
 * address it resolves to is; otherwise it is `remote`.
 * @throws AgentError AGENT_CONFIG_INVALID for a URL that is neither http(s) nor unix.
 */
export async function upstreamTarget(url: string): Promise<UpstreamTarget> {
  if (url.startsWith('unix:')) {
    const path = url.slice('unix:'.length);
    if (!path.startsWith('/') || path.includes('\0'))
      throw new AgentError(
        'AGENT_CONFIG_INVALID',
        `upstream ${JSON.stringify(url)}: unix: needs an absolute path`,
      );
    return { kind: 'unix', path };
  }
  let u: URL;
  try {
    u = new URL(url);
  } catch (cause) {
    throw new AgentError('AGENT_CONFIG_INVALID', `upstream ${JSON.stringify(url)} is not a URL`, { cause });
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:')
    throw new AgentError(
      'AGENT_CONFIG_INVALID',
      `upstream ${JSON.stringify(url)}: expected http(s): or unix:`,
    );
  const port = u.port === '' ? (u.protocol === 'http:' ? 80 : 443) : Number(u.port);
  const host = u.hostname.startsWith('[') ? u.hostname.slice(1, -1) : u.hostname;
  let resolved: { family: 4 | 6; address: string }[];
  if (isIP(host) !== 0) resolved = [{ family: isIP(host) as 4 | 6, address: host }];
  else {
    try {
      const all = await lookup(host, { all: true });
      resolved = all.map((a) => ({ family: a.family as 4 | 6, address: a.address }));
    } catch {
      return { kind: 'remote', host };
    }
  }
  const addresses: { family: 4 | 6; address: string }[] = [];
  for (const a of resolved) {
    if (a.family === 4 && isLoopback4(a.address)) addresses.push(a);
    else if (a.family === 6 && isLoopback6(a.address)) {
      const v4 = unmap(a.address);
      addresses.push(v4 === a.address ? a : { family: 4, address: v4 });
    } else return { kind: 'remote', host };
  }
  if (addresses.length === 0) return { kind: 'remote', host };
  return { kind: 'tcp', port, addresses };
}

/**
 * Whether a listening socket bound to `bound` (family, address) accepts a connection to `to`:
 * the same address, the family's wildcard, or (a dual-stack IPv6 socket) `::` for IPv4 too, and
 * `::ffff:a.b.c.d` for the IPv4 address it maps.
 */
export function accepts(
  bound: { family: 4 | 6; address: string },
  to: { family: 4 | 6; address: string },
): boolean {
  if (bound.family === 4)
    return to.family === 4 && (bound.address === '0.0.0.0' || bound.address === to.address);
  if (bound.address === '::') return true; // IPV6_V6ONLY off is the default; when on, no IPv4 reaches it (over-reporting only)
  if (to.family === 6) return bound.address === to.address;
  return unmap(bound.address) === to.address;
}
