import { SampleError } from './errors.ts';
import { MAX_COMPLETION_TOKENS } from './options.ts';
import { countTokens } from './text.ts';

// Reads the few request fields the sample server acts on. Everything else is ignored, as a real
// server ignores sampling parameters it does not support.

/** A chat or text completion request, reduced to what drives generation. */
export interface CompletionRequest {
  /** The prompt text (chat messages' text joined), which seeds the answer. */
  prompt: string;
  promptTokens: number;
  /** max_tokens or max_completion_tokens; null when neither is given. */
  maxTokens: number | null;
  /** vLLM's min_tokens extension: do not stop by itself before this many. */
  minTokens: number;
  /** vLLM's ignore_eos extension: never stop by itself (only max_tokens ends it). */
  ignoreEos: boolean;
  n: number;
  stream: boolean;
  includeUsage: boolean;
  /** `seed`, when given, changes the answer like a sampling seed would. */
  seed: number | null;
}

/** An embeddings request: one string per input item. */
export interface EmbeddingRequest {
  inputs: string[];
  dimensions: number;
  encoding: 'float' | 'base64';
}

type Json = Record<string, unknown>;

/** Parses the body as a JSON object and checks `model`. @throws SampleError */
export function parseBody(body: Uint8Array, model: string): Json {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8'));
  } catch (cause) {
    throw new SampleError('invalid_json', `request body is not valid JSON: ${(cause as Error).message}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new SampleError('invalid_request', 'request body must be a JSON object');
  const json = value as Json;
  if (typeof json.model !== 'string') throw new SampleError('invalid_request', 'model is required', 'model');
  if (json.model !== model)
    throw new SampleError('model_not_found', `The model \`${json.model}\` does not exist.`, 'model');
  return json;
}

function int(json: Json, name: string, min: number, max: number): number | null {
  const v = json[name];
  if (v === undefined || v === null) return null;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max)
    throw new SampleError('invalid_request', `${name} must be an integer from ${min} to ${max}`, name);
  return v;
}

function bool(json: Json, name: string): boolean {
  const v = json[name];
  if (v === undefined || v === null) return false;
  if (typeof v !== 'boolean') throw new SampleError('invalid_request', `${name} must be a boolean`, name);
  return v;
}

function messageText(m: unknown, i: number): string {
  if (typeof m !== 'object' || m === null || typeof (m as Json).role !== 'string')
    throw new SampleError('invalid_request', `messages[${i}] must be an object with a role`, 'messages');
  const content = (m as Json).content;
  if (typeof content === 'string') return content;
  if (Array.isArray(content))
    return content.map((p) => (typeof p?.text === 'string' ? (p.text as string) : '')).join('');
  return '';
}

/** Reads a /v1/chat/completions (`chat`) or /v1/completions request. @throws SampleError */
export function parseCompletion(json: Json, chat: boolean): CompletionRequest {
  let prompt: string;
  let promptTokens: number;
  if (chat) {
    const messages = json.messages;
    if (!Array.isArray(messages) || messages.length === 0)
      throw new SampleError('invalid_request', 'messages must be a non-empty array', 'messages');
    const texts = messages.map(messageText);
    prompt = JSON.stringify(messages);
    promptTokens = texts.reduce((sum, t) => sum + countTokens(t) + 4, 0);
  } else {
    const p = json.prompt;
    if (p === undefined || p === null)
      throw new SampleError('invalid_request', 'prompt is required', 'prompt');
    prompt = JSON.stringify(p);
    promptTokens = typeof p === 'string' ? countTokens(p) : countTokens(prompt);
  }
  const streamOptions = json.stream_options;
  const includeUsage =
    typeof streamOptions === 'object' &&
    streamOptions !== null &&
    bool(streamOptions as Json, 'include_usage');
  return {
    prompt,
    promptTokens,
    maxTokens: int(json, 'max_completion_tokens', 1, 1e9) ?? int(json, 'max_tokens', 1, 1e9),
    minTokens: Math.min(int(json, 'min_tokens', 0, 1e9) ?? 0, MAX_COMPLETION_TOKENS),
    ignoreEos: bool(json, 'ignore_eos'),
    n: int(json, 'n', 1, 16) ?? 1,
    stream: bool(json, 'stream'),
    includeUsage,
    seed: int(json, 'seed', Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER),
  };
}

/** Reads a /v1/embeddings request. @throws SampleError */
export function parseEmbedding(json: Json): EmbeddingRequest {
  const input = json.input;
  let inputs: unknown[];
  if (typeof input === 'string') inputs = [input];
  else if (Array.isArray(input) && input.length > 0 && input.every((x) => typeof x === 'number'))
    inputs = [input];
  else if (Array.isArray(input) && input.length > 0) inputs = input;
  else throw new SampleError('invalid_request', 'input must be a string or a non-empty array', 'input');
  if (inputs.length > 2048) throw new SampleError('invalid_request', 'at most 2048 inputs', 'input');
  const encoding = json.encoding_format ?? 'float';
  if (encoding !== 'float' && encoding !== 'base64')
    throw new SampleError('invalid_request', 'encoding_format must be float or base64', 'encoding_format');
  return {
    inputs: inputs.map((x) => (typeof x === 'string' ? x : JSON.stringify(x))),
    dimensions: int(json, 'dimensions', 1, 4096) ?? 256,
    encoding,
  };
}
