// Trusted load balancers and the client address behind them, for the rate limiter
// (ratelimit.ts; docs/api.md, "Rate limits"). Here, under http/, because it reads a request
// header and parses socket addresses (node:net).
import { BlockList, isIP } from 'node:net';

/** X-Forwarded-For hops read at most, from the right; a longer header is ignored as malformed. */
const MAX_HOPS = 32;
/** Longest X-Forwarded-For value read (Node already bounds all headers to 16 KiB). */
const MAX_HEADER = 2048;

/** `a.b.c.d` or an IPv6 address (no zone), IPv4-mapped IPv6 as IPv4; null when it is not one. */
function address(text: string): { ip: string; type: 'ipv4' | 'ipv6' } | null {
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(text);
  const ip = mapped === null ? text : mapped[1]!;
  const v = isIP(ip);
  if (v === 4) return { ip, type: 'ipv4' };
  if (v === 6 && !ip.includes('%')) return { ip: ip.toLowerCase(), type: 'ipv6' };
  return null;
}

/**
 * The load balancers (reverse proxies) whose X-Forwarded-For is believed: addresses and CIDR
 * ranges (`127.0.0.1`, `10.0.0.0/8`, `fd00::/8`). Only a request whose peer is one of them has
 * its client address taken from that header: the right-most hop that is not itself a trusted
 * proxy (each proxy appends the address it received from, so hops left of an untrusted one are
 * that client's own word). From any other peer the header is ignored: a client cannot choose
 * its own bucket. A header that is not a comma-separated list of plain addresses (no ports,
 * brackets or names), or longer than MAX_HOPS hops, is ignored too: the peer's address is used.
 * Empty: no proxy is trusted (the default).
 */
export class TrustedProxies {
  readonly #list = new BlockList();
  readonly #empty: boolean;

  /** @throws RangeError naming the first entry that is not an address or CIDR range */
  constructor(entries: readonly string[]) {
    for (const e of entries) {
      const [net, bits, extra] = e.trim().split('/');
      const a = address(net ?? '');
      if (a === null || extra !== undefined)
        throw new RangeError(`trusted proxy "${e}" is not an IP address or CIDR range`);
      if (bits === undefined) this.#list.addAddress(a.ip, a.type);
      else {
        const max = a.type === 'ipv4' ? 32 : 128;
        if (!/^\d{1,3}$/.test(bits) || Number(bits) > max)
          throw new RangeError(`trusted proxy "${e}": the prefix length must be 0 to ${max}`);
        this.#list.addSubnet(a.ip, Number(bits), a.type);
      }
    }
    this.#empty = entries.length === 0;
  }

  /** Whether `ip` (any form Node gives a socket's address in) is a trusted proxy. */
  has(ip: string | undefined): boolean {
    const a = address(ip ?? '');
    return a !== null && this.#list.check(a.ip, a.type);
  }

  /** The client address of a request from `peer` carrying X-Forwarded-For `forwardedFor` (attacker-controlled). */
  client(peer: string | undefined, forwardedFor: string | string[] | undefined): string {
    const own = peer ?? 'unknown';
    if (this.#empty || forwardedFor === undefined || !this.has(peer)) return own;
    const text = Array.isArray(forwardedFor) ? forwardedFor.join(',') : forwardedFor;
    if (text.length > MAX_HEADER) return own;
    const hops = text.split(',').map((h) => address(h.trim()));
    if (hops.length > MAX_HOPS || hops.some((h) => h === null)) return own;
    // Right to left: the first hop no trusted proxy can vouch for is the client.
    for (let i = hops.length - 1; i >= 0; i--) if (!this.has(hops[i]!.ip)) return hops[i]!.ip;
    // Every hop is a trusted proxy: the left-most is as far as the chain is believed.
    return hops[0]?.ip ?? own;
  }
}
