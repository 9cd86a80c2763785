/**
 * Serves a SIMULATED GPU's state over loopback HTTP (GET /sim/gpu), for demo/bin/nvidia-smi
 * to print in nvidia-smi's CSV format, and ties the simulation to a sample model server.
 */
import { once } from 'node:events';
import { chmod, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { SAMPLE_GENERATE_EVENT, type SampleGenerate } from '../sample/options.ts';
import { type SimGpuOptions, SimulatedGpu } from './sim.ts';

/** A running simulated GPU. */
export interface RunningSimGpu {
  /** Base URL of the state server; GET `${url}/sim/gpu` answers a SimGpuReading. */
  url: string;
  gpu: SimulatedGpu;
  /** Pass as the sample server's `onRequest`: every POST it serves is work on the GPU. */
  onRequest: (req: IncomingMessage, res: ServerResponse) => void;
  close(): Promise<void>;
}

/** An SSE event that carries a token: `data: {...` with non-empty chat content or completion text. */
const TOKEN_EVENT = /^data: \{.*"(?:content|text)":"[^"]/;

/** The sample server's paths that describe their generation to the GPU (SimBeginOptions.generates). */
const GENERATION_PATHS: ReadonlySet<string> = new Set(['/v1/chat/completions', '/v1/completions']);

/** Path of the nvidia-smi stand-in, a plain JavaScript program (runs under any node >= 18). */
export const FAKE_NVIDIA_SMI = new URL('../../bin/nvidia-smi', import.meta.url).pathname;

/**
 * Starts the simulation and its state server on 127.0.0.1 (a free port).
 * @example
 *   const gpu = await startSimulatedGpu({ variant: 'honest', tokenLatencyMs: 5 });
 *   const sample = await startSampleServer({ model, tokenLatencyMs: 5, onRequest: gpu.onRequest });
 */
export async function startSimulatedGpu(options: SimGpuOptions): Promise<RunningSimGpu> {
  const gpu = new SimulatedGpu(options);
  const server = createServer((req, res) => {
    if (req.method === 'GET' && req.url === '/sim/gpu') {
      const body = JSON.stringify(gpu.read());
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
      return;
    }
    res.writeHead(404).end();
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    gpu,
    onRequest: (req, res) => {
      if (req.method !== 'POST') return;
      // A generation draws only its prefill until it says how it generates (sim.ts, begin()).
      const r = gpu.begin({ generates: GENERATION_PATHS.has((req.url ?? '').split('?')[0]!) });
      // Each server-sent event carrying a token (a chat delta or a completion's text) is a token.
      const write = res.write.bind(res) as (...args: unknown[]) => boolean;
      res.write = ((chunk: unknown, ...rest: unknown[]) => {
        r.streamed();
        if (typeof chunk === 'string' ? TOKEN_EVENT.test(chunk) : TOKEN_EVENT.test(String(chunk))) r.token();
        return write(chunk, ...rest);
      }) as typeof res.write;
      res.once(SAMPLE_GENERATE_EVENT, (g: SampleGenerate) => r.generate(g.tokens, g.durationMs));
      res.once('close', r.end);
    },
    close: async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
    },
  };
}

/**
 * Writes an executable `nvidia-smi` into `dir` that runs demo/bin/nvidia-smi against the
 * simulated GPU at `url` (each agent of the demo gets its own), and returns its path: what
 * `tmb agent --nvidia-smi PATH` takes.
 */
export async function writeNvidiaSmiWrapper(
  dir: string,
  url: string,
  node = process.execPath,
): Promise<string> {
  const path = join(dir, 'nvidia-smi');
  const q = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;
  await writeFile(path, `#!/bin/sh\nTMB_SIM_GPU_URL=${q(url)} exec ${q(node)} ${q(FAKE_NVIDIA_SMI)} "$@"\n`);
  await chmod(path, 0o755);
  return path;
}
