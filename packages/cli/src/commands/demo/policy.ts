import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createPolicy, parseBinaryLog, type RuntimePolicy } from '@tmb/core/ima';
import type { ModelRegistry } from '@tmb/core/registry';
import type { DemoWeights, SampleVariant } from '@tmb/demo';
import { startVerifier } from '@tmb/verifier';
import { DEMO_NVIDIA_SMI, firstQuote, startEngine, startHostAgent, startSimHost } from './host.ts';

/** A regex that matches `text` literally (Python `re` and JavaScript agree on these escapes). */
const literal = (text: string) => text.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');

/**
 * What the runtime policy leaves out on every demo host: each agent's data folder (its receipt
 * store and measurement log change every run; docs/deploy.md) and nothing else.
 */
export function demoExcludes(root: string): string[] {
  return [`^${literal(root)}/hosts/[^/]+/data/`];
}

/**
 * Learns the demo's runtime policy (Keylime format) the way a provider makes one from a golden
 * image: a throwaway honest host with its own throwaway verifier runs every path the demo's
 * hosts run (start, enrolment, quotes, each kind of request, telemetry), and the policy allows
 * exactly what its simulated kernel measured, less the agents' data folders. The demo's hosts
 * are then appraised against it: anything they run or read that the golden host did not (an
 * attack's script, a patched file, another nvidia-smi) fails `host.integrity`.
 * @throws when the simulated kernel cannot start (the caller falls back to L0 and says why)
 */
export async function learnPolicy(o: {
  root: string;
  model: string;
  registry: ModelRegistry;
  weights: Record<SampleVariant, DemoWeights>;
  latencyMs: number;
  log: (line: string) => void;
  /**
   * The verifier URL the golden agent is given, from its verifier's. Default: that one. Tests
   * put a slow proxy there (a loaded machine's late AK activation, made deterministic).
   */
  agentVerifier?: (url: string) => Promise<string>;
  /** The golden agent's `--tpm-transport`; left out: its default, as the demo's hosts run. */
  tpmTransport?: 'wire' | 'tools';
}): Promise<RuntimePolicy> {
  const token = randomBytes(24).toString('hex');
  const host = await startSimHost({
    name: 'gpu-golden',
    variant: 'honest',
    root: o.root,
    kernel: true,
    tpm: true,
    log: o.log,
  });
  try {
    const verifier = await startVerifier({
      registry: o.registry,
      dbPath: join(o.root, 'golden.db'),
      tokens: [{ token, agent: host.name }],
      tpmRoots: host.tpmRoots,
    });
    try {
      const w = o.weights.honest.path;
      const engine = await startEngine(host, { model: o.model, weights: w, latencyMs: 0, gpu: true });
      const agent = await startHostAgent(host, {
        upstream: String(engine.ready.listening),
        weights: w,
        nvidiaSmi: DEMO_NVIDIA_SMI,
        verifier: o.agentVerifier ? await o.agentVerifier(verifier.url) : verifier.url,
        token,
        appPcr: 15,
        sampleMs: 50,
        ...(o.tpmTransport === undefined ? {} : { tpmTransport: o.tpmTransport }),
      });
      const url = String(agent.ready.listening);
      for (const [path, body] of GOLDEN_REQUESTS) {
        const r = await fetch(`${url}${path}`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ model: o.model, ...body }),
          signal: AbortSignal.timeout(20_000),
        });
        await r.arrayBuffer();
        // An answer that failed ran only part of its path: the policy would miss the rest.
        if (!r.ok) throw new Error(`golden host: ${path} answered ${r.status}`);
      }
      // Until a quote the verifier accepted covers every golden answer: enrolment, the checkpoint
      // key and the quoting path (with `--tpm-transport tools`, the first quote's mkfifo and
      // tpm2_quote; over the resident connection nothing runs per quote) are then in the kernel's
      // log. A fixed wait promised none of it: on a loaded machine the golden agent was stopped
      // before its first quote, the policy lacked /usr/bin/mkfifo, and every demo host failed
      // host.integrity (IMA_FILE_NOT_IN_POLICY) at its own first quote.
      await firstQuote(verifier.url, host.name, String(agent.ready.keyId), GOLDEN_REQUESTS.length);
      await agent.stop();
      const kernel = host.kernel!;
      const log = await readFile(join(kernel.securityfs, 'ima', 'binary_runtime_measurements'));
      return createPolicy(parseBinaryLog(new Uint8Array(log)), { excludes: demoExcludes(o.root) });
    } finally {
      await verifier.close();
    }
  } finally {
    await host.stop();
  }
}

/** One request of each kind the demo sends. */
const GOLDEN_REQUESTS: ReadonlyArray<[string, Record<string, unknown>]> = [
  ['/v1/chat/completions', { messages: [{ role: 'user', content: 'golden' }], max_tokens: 8 }],
  [
    '/v1/chat/completions',
    {
      messages: [{ role: 'user', content: 'golden' }],
      max_tokens: 8,
      stream: true,
      stream_options: { include_usage: true },
    },
  ],
  [
    '/v1/completions',
    { prompt: 'golden', max_tokens: 8, stream: true, stream_options: { include_usage: true } },
  ],
  ['/v1/embeddings', { input: 'golden' }],
];
