import { CHEAP_LATENCY_FACTOR, type RunningSimGpu, startSampleServer, startSimulatedGpu } from '@tmb/demo';
import { parse, UsageError } from '../args.ts';
import type { Io } from '../registry.ts';
import { untilSignal } from '../signals.ts';

const HELP = `usage: tmb sample-server --model NAME [options]

Runs the SAMPLE model server: a stub that speaks enough of the OpenAI API for an agent to sit
in front of it (deterministic text, no model). For trying the parts by hand and for the demo.

  --model NAME          the one model name served (requests naming another get 404)
  --variant V           honest (default) or cheap: shorter text, lower latency, same model name
  --token-latency MS    milliseconds per generated token (default 10; cheap waits 0.4 times that)
  --weights PATH        a weights file read whole at start and kept open, as an engine loads its
                        model: on a host with IMA that read is what the verifier sees
  --gpu                 also run a SIMULATED GPU driven by the requests served, and print the URL
                        that demo/bin/nvidia-smi reads (TMB_SIM_GPU_URL)
  --host HOST           listen address (default 127.0.0.1)
  --port N              listen port (default 0: any free port)

Prints {"listening": URL, "gpu": URL | null, "weights": DIGEST | null} on stdout when ready;
stops on SIGINT or SIGTERM.`;

/** `tmb sample-server`: see HELP. */
export async function main(argv: string[], io: Io): Promise<number> {
  const { values } = parse(argv, {
    model: { type: 'string' },
    variant: { type: 'string' },
    'token-latency': { type: 'string' },
    weights: { type: 'string' },
    gpu: { type: 'boolean' },
    host: { type: 'string' },
    port: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) {
    io.stdout(`${HELP}\n`);
    return 0;
  }
  if (!values.model) throw new UsageError('--model is required (see --help)');
  const variant = values.variant ?? 'honest';
  if (variant !== 'honest' && variant !== 'cheap') throw new UsageError('--variant is honest or cheap');
  const latency = Number(values['token-latency'] ?? '10');
  if (!Number.isFinite(latency) || latency < 0)
    throw new UsageError(`--token-latency must be a number >= 0, got ${values['token-latency']}`);
  const port = Number(values.port ?? '0');
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new UsageError(`--port must be 0..65535, got ${values.port}`);
  let gpu: RunningSimGpu | undefined;
  if (values.gpu)
    gpu = await startSimulatedGpu({
      variant,
      tokenLatencyMs: variant === 'cheap' ? latency * CHEAP_LATENCY_FACTOR : latency,
    });
  try {
    const server = await startSampleServer({
      model: values.model,
      variant,
      tokenLatencyMs: latency,
      ...(values.weights !== undefined ? { weights: values.weights } : {}),
      ...(values.host !== undefined ? { host: values.host } : {}),
      port,
      ...(gpu ? { onRequest: gpu.onRequest } : {}),
    });
    io.stdout(
      `${JSON.stringify({ listening: server.url, gpu: gpu?.url ?? null, weights: server.weights })}\n`,
    );
    await untilSignal();
    await server.close();
  } finally {
    await gpu?.close();
  }
  return 0;
}
