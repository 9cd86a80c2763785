import { AgentError } from './errors.ts';

/** How the agent runs. Every field but `upstream`, `dataDir` and `name` has a safe default. */
export interface AgentOptions {
  /** Base URL of the unchanged model server (vLLM, llama.cpp, Ollama, TGI...), e.g. `http://127.0.0.1:8000`. */
  upstream: string;
  /** Address to listen on. Default 127.0.0.1: a proxy open to the network is the operator's explicit choice. */
  host?: string;
  /** Port to listen on. Default 0: an ephemeral port, reported in RunningAgent.url. */
  port?: number;
  /** Folder for the receipt store (receipts.db). Created if missing. */
  dataDir: string;
  /** The agent's name as enrolled with the verifier (printable ASCII, no spaces, at most 128 bytes). */
  name: string;
  /** Where to push receipts. Left out: receipts are kept and served locally only. */
  verifier?: { url: string; token: string };
  /** Largest request body forwarded; larger ones get 413 and nothing is forwarded. Default 16 MiB. */
  maxBodyBytes?: number;
  /** Time allowed for the upstream to answer with headers, and between two body chunks. Default 600 s:
   * a long prompt on a loaded server can take minutes before its first token. */
  upstreamTimeoutMs?: number;
  /** `normal` (default): a committed receipt survives the agent's crash or kill -9 (SQLite WAL,
   * synchronous=NORMAL). `full`: it also survives power loss (fsync per group commit), at a throughput cost. */
  durability?: 'normal' | 'full';
  /** Receipts per push to the verifier. Default 500 (the verifier accepts at most 1000). */
  pushBatch?: number;
  /** Longest wait between a receipt's commit and its push. Default 50 ms. */
  pushIntervalMs?: number;
  /** Timeout of each call to the verifier. Default 10 s. */
  verifierTimeoutMs?: number;
}

export type ResolvedAgentOptions = Required<Omit<AgentOptions, 'verifier'>> & Pick<AgentOptions, 'verifier'>;

const NAME = /^[\x21-\x7e]{1,128}$/;

/**
 * Fills in defaults and checks the options.
 * @throws AgentError AGENT_CONFIG_INVALID
 */
export function resolveOptions(o: AgentOptions): ResolvedAgentOptions {
  let upstream: URL;
  try {
    upstream = new URL(o.upstream);
  } catch (cause) {
    throw new AgentError('AGENT_CONFIG_INVALID', `upstream ${JSON.stringify(o.upstream)} is not a URL`, {
      cause,
    });
  }
  if (upstream.protocol !== 'http:' && upstream.protocol !== 'https:') {
    throw new AgentError(
      'AGENT_CONFIG_INVALID',
      `upstream must be http or https, found ${upstream.protocol}`,
    );
  }
  if (!NAME.test(o.name)) {
    throw new AgentError(
      'AGENT_CONFIG_INVALID',
      'agent name must be 1 to 128 printable ASCII characters, no spaces',
    );
  }
  const r: ResolvedAgentOptions = {
    upstream: upstream.href.replace(/\/$/, ''),
    host: o.host ?? '127.0.0.1',
    port: o.port ?? 0,
    dataDir: o.dataDir,
    name: o.name,
    verifier: o.verifier,
    maxBodyBytes: o.maxBodyBytes ?? 16 * 1024 * 1024,
    upstreamTimeoutMs: o.upstreamTimeoutMs ?? 600_000,
    durability: o.durability ?? 'normal',
    pushBatch: Math.min(o.pushBatch ?? 500, 1000),
    pushIntervalMs: o.pushIntervalMs ?? 50,
    verifierTimeoutMs: o.verifierTimeoutMs ?? 10_000,
  };
  for (const k of [
    'maxBodyBytes',
    'upstreamTimeoutMs',
    'pushBatch',
    'pushIntervalMs',
    'verifierTimeoutMs',
  ] as const) {
    if (!Number.isSafeInteger(r[k]) || r[k] <= 0)
      throw new AgentError('AGENT_CONFIG_INVALID', `${k} must be a positive integer`);
  }
  return r;
}
