import type { IncomingMessage, ServerResponse } from 'node:http';
/**
 * Options of the SAMPLE model server (a stub that stands in for vLLM, llama.cpp, Ollama or TGI
 * in the demo, tests and benchmarks; it runs no model).
 */

/**
 * `honest` answers as "the model paid for"; `cheap` answers under the SAME model name with
 * shorter, different text and lower latency: a stand-in for a provider's cheaper substitute.
 */
export type SampleVariant = 'honest' | 'cheap';

/** What the server did for one request that generated tokens or vectors (see `onGeneration`). */
export interface GenerationEvent {
  endpoint: 'chat.completions' | 'completions' | 'embeddings';
  model: string;
  variant: SampleVariant;
  stream: boolean;
  promptTokens: number;
  completionTokens: number;
  /** Unix time in milliseconds. */
  startedAt: number;
  /** Unix time in milliseconds of the first token (or vector) sent, null when none was. */
  firstTokenAt: number | null;
  endedAt: number;
  /** False when the client went away before the end. */
  completed: boolean;
}

/** Options of startSampleServer. */
export interface SampleServerOptions {
  /** The one model name served; requests naming another get 404 `model_not_found`, like vLLM. */
  model: string;
  /** Left out: `honest`. */
  variant?: SampleVariant;
  /**
   * Milliseconds before each generated token (the first one included). Left out: 10 ms, slow
   * enough to look like a model in the demo; benchmarks pass 0. The cheap variant waits
   * `CHEAP_LATENCY_FACTOR` times as long.
   */
  tokenLatencyMs?: number;
  /**
   * A weights file the server reads whole at start and keeps open while it runs, as an engine
   * loads its model (sample/weights.ts): the read is what a host's IMA measures. The bytes are
   * not used. Left out: nothing is read (tests and benchmarks that need no measured host).
   */
  weights?: string;
  /** Left out: 127.0.0.1, so the sample is never reachable from another machine by accident. */
  host?: string;
  /** Left out: 0, a free port chosen by the system (read it back from `url`). */
  port?: number;
  /** Request bodies over this many bytes get 413. Left out: 16 MiB. */
  maxBodyBytes?: number;
  /**
   * Called once per generation when it ends, with its token counts and timing (tests and other
   * observers; the simulated GPU follows requests as they run through `onRequest` instead).
   * Exceptions it throws are ignored so it can never break a response.
   */
  onGeneration?: (event: GenerationEvent) => void;
  /**
   * Called when a request arrives, before it is read: the simulated GPU (demo/src/gpu/) uses it
   * to know what is in flight while it runs. Exceptions it throws are ignored.
   */
  onRequest?: (req: IncomingMessage, res: ServerResponse) => void;
}

/**
 * Emitted on the ServerResponse of an answer that is not streamed, before its tokens are
 * generated, with `{ tokens, durationMs }` (all choices' tokens, the nominal time to generate
 * them): the simulated GPU spreads their energy over that time (demo/src/gpu/sim.ts).
 */
export const SAMPLE_GENERATE_EVENT = 'tmb-sample-generate';

/** What SAMPLE_GENERATE_EVENT carries. */
export interface SampleGenerate {
  tokens: number;
  durationMs: number;
}

/** The cheap variant's per-token latency, as a fraction of the honest one's. */
export const CHEAP_LATENCY_FACTOR = 0.4;

/** Longest completion generated, in tokens, whatever max_tokens asks (the "context length"). */
export const MAX_COMPLETION_TOKENS = 100_000;

/** Options with every default filled in. */
export interface ResolvedOptions {
  model: string;
  variant: SampleVariant;
  /** Already scaled for the variant. */
  tokenLatencyMs: number;
  maxBodyBytes: number;
  onGeneration: (event: GenerationEvent) => void;
}

/** Fills in the documented defaults. @throws RangeError for a negative latency or an empty model. */
export function resolveOptions(o: SampleServerOptions): ResolvedOptions {
  const variant = o.variant ?? 'honest';
  const latency = o.tokenLatencyMs ?? 10;
  if (!(latency >= 0)) throw new RangeError(`tokenLatencyMs must be >= 0, got ${latency}`);
  if (o.model === '') throw new RangeError('model must not be empty');
  const listener = o.onGeneration;
  return {
    model: o.model,
    variant,
    tokenLatencyMs: variant === 'cheap' ? latency * CHEAP_LATENCY_FACTOR : latency,
    maxBodyBytes: o.maxBodyBytes ?? 16 * 1024 * 1024,
    onGeneration: (event) => {
      try {
        listener?.(event);
      } catch {
        // A listener's failure must not change what the client receives.
      }
    },
  };
}
