import type { ServerResponse } from 'node:http';
import type { ResolvedOptions } from './options.ts';
import type { EmbeddingRequest } from './parse.ts';
import { sendJson } from './reply.ts';
import { countTokens, embeddingVector } from './text.ts';

/** The little-endian float32 bytes of `v`, base64: what OpenAI sends for `encoding_format: base64`. */
function float32Base64(v: number[]): string {
  const bytes = Buffer.alloc(v.length * 4);
  for (let i = 0; i < v.length; i++) bytes.writeFloatLE(v[i]!, i * 4);
  return bytes.toString('base64');
}

/**
 * Answers a /v1/embeddings request with one deterministic unit vector per input. The official
 * client asks for base64 unless told otherwise, so both encodings are served.
 */
export function serveEmbeddings(res: ServerResponse, o: ResolvedOptions, r: EmbeddingRequest): void {
  const startedAt = Date.now();
  let promptTokens = 0;
  const data = r.inputs.map((input, index) => {
    promptTokens += countTokens(input);
    const v = embeddingVector(o.model, o.variant, input, r.dimensions);
    return { object: 'embedding', index, embedding: r.encoding === 'base64' ? float32Base64(v) : v };
  });
  sendJson(res, 200, {
    object: 'list',
    data,
    model: o.model,
    usage: { prompt_tokens: promptTokens, total_tokens: promptTokens },
  });
  const endedAt = Date.now();
  o.onGeneration({
    endpoint: 'embeddings',
    model: o.model,
    variant: o.variant,
    stream: false,
    promptTokens,
    completionTokens: 0,
    startedAt,
    firstTokenAt: endedAt,
    endedAt,
    completed: true,
  });
}
