import type { VerifiedFetch } from '@tmb/client';
import {
  AccessLog,
  cheatWeights,
  findNginx,
  NGINX_INSTALL_HINT,
  type RunningNginx,
  SmoothRoundRobin,
  startNginx,
} from '@tmb/demo';
import OpenAI from 'openai';
import type { Backend } from './stack.ts';

/** How `tmb demo` routes (`--routing`): nginx when installed (auto), nginx or fail, or the client itself. */
export type RoutingMode = 'auto' | 'nginx' | 'direct';

/** The label every summary line and JSON object carries. */
export type RoutingLabel = 'nginx' | 'direct (no nginx)';

/** The provider's router in front of the hosts: nginx, or the demo client routing by the same weights. */
export interface Balancer {
  routing: 'nginx' | 'direct';
  label: RoutingLabel;
  /** nginx's URL (the provider's API endpoint); undefined when the client routes itself. */
  url: string | undefined;
  /** The cheat share asked for (`--cheat`) and the one the weights give (rounded to a percent). */
  asked: number;
  share: number;
  /** Each host's weight (0: no request is routed to it). */
  weights: Array<{ host: string; variant: Backend['variant']; weight: number }>;
  /** Why the routing is direct, when it is (no nginx, or nginx failed to start); else ''. */
  why: string;
  /** The client for nginx's URL (through the verified fetch); undefined when direct. */
  openai: OpenAI | undefined;
  /** Direct routing: the next host, as nginx's smooth weighted round-robin would pick it. */
  pick(): Backend;
  /**
   * Where the request went, per nginx's access log (the ground truth, by the request id nginx
   * gave it); undefined when nginx logged no such request within 5 s.
   */
  servedBy(requestId: string | null): Promise<Backend | undefined>;
  close(): Promise<void>;
}

/** Host:port of an agent's URL, as nginx's $upstream_addr prints it. */
const addressOf = (b: Backend) => new URL(b.agentUrl).host;

/**
 * Puts the provider's router in front of `backends` (honest ones and one cheap one): weights that
 * send `share` of the requests to the cheap host (share.ts), then nginx with them, or, without
 * nginx (or `routing: 'direct'`), the demo client picking hosts by the same weighted round-robin.
 * In `auto` mode a missing nginx, or one that fails to start, falls back to direct and says why.
 * @throws Error when `routing` is 'nginx' and nginx is missing or fails to start
 */
export async function startBalancer(
  backends: Backend[],
  o: {
    share: number;
    routing: RoutingMode;
    tmb: VerifiedFetch;
    /** Where nginx is looked for. Default findNginx (PATH, then /usr/sbin); tests pass one that finds none. */
    find?: () => string | undefined;
  },
): Promise<Balancer> {
  const honest = backends.filter((b) => b.variant === 'honest');
  const w = cheatWeights(o.share, honest.length);
  const weights = backends.map((b) => ({
    host: b.host.name,
    variant: b.variant,
    weight: b.variant === 'cheap' ? w.cheap : w.honest,
  }));
  const weighted = backends.map((b, i) => ({ target: b, weight: weights[i]!.weight }));
  const rr = new SmoothRoundRobin(weighted);
  const base = { asked: o.share, share: w.share, weights, pick: () => rr.next() };
  let why = '';
  const bin = o.routing === 'direct' ? undefined : (o.find ?? findNginx)();
  if (o.routing === 'direct') why = '--routing direct';
  else if (bin === undefined) {
    if (o.routing === 'nginx') throw new Error(`nginx is not installed (${NGINX_INSTALL_HINT})`);
    why = `nginx is not installed: ${NGINX_INSTALL_HINT}`;
  }
  let nginx: RunningNginx | undefined;
  if (bin !== undefined) {
    const upstreams = weighted
      .filter((x) => x.weight > 0)
      .map((x) => ({ address: addressOf(x.target), weight: x.weight }));
    try {
      nginx = await startNginx({ upstreams, accessLog: true, requestId: true }, bin);
    } catch (err) {
      if (o.routing === 'nginx') throw err;
      why = `nginx did not start: ${(err as Error).message.slice(0, 300)}`;
    }
  }
  if (nginx === undefined)
    return {
      ...base,
      routing: 'direct',
      label: 'direct (no nginx)',
      url: undefined,
      why,
      openai: undefined,
      servedBy: async () => undefined,
      close: async () => {},
    };
  const log = new AccessLog(nginx.accessLog!);
  const running = nginx;
  return {
    ...base,
    routing: 'nginx',
    label: 'nginx',
    url: nginx.url,
    why: '',
    openai: new OpenAI({
      baseURL: `${nginx.url}/v1`,
      apiKey: 'sk-demo-unused',
      fetch: o.tmb.fetch,
      maxRetries: 0,
    }),
    servedBy: async (requestId) => {
      if (requestId === null) return undefined;
      const entry = await log.find(requestId);
      return entry === undefined ? undefined : backends.find((b) => addressOf(b) === entry.upstream);
    },
    close: () => running.close(),
  };
}
