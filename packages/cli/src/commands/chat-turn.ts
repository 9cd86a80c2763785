import type { VerifiedFetch } from '@tmb/client';
import OpenAI from 'openai';
import { type Turn, turnOf } from './chat-text.ts';

/** Largest answer read from the provider (one chat answer is a few KiB; a long one, some MiB). */
export const MAX_ANSWER_BYTES = 16 << 20;

/** How long one answer may take, from the request to its last byte (openai's `timeout`). */
export const ANSWER_TIMEOUT_MS = 120_000;

/**
 * A failed turn: the provider could not be reached, did not answer as an OpenAI-compatible
 * server does, or refused the request. `code` is one of docs/errors.md: CLI_IO_FAILED (no
 * connection, or no answer in time), CLI_FAILED (an HTTP error, or not an OpenAI answer).
 */
export class ChatFailure extends Error {
  readonly code: 'CLI_IO_FAILED' | 'CLI_FAILED';
  constructor(code: 'CLI_IO_FAILED' | 'CLI_FAILED', message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'ChatFailure';
    this.code = code;
  }
}

/** One message of the conversation, as the chat completions API takes it. */
export interface ChatMessage {
  role: 'user' | 'assistant';
  content: string;
}

/** What a turn needs: the openai client on the verified fetch, and where its results come from. */
export interface Session {
  openai: OpenAI;
  tmb: VerifiedFetch;
  model: string;
  /** The provider's base, for messages (`.../v1`). */
  baseUrl: string;
}

/**
 * A fetch that refuses an answer body past `max` bytes: the body is cut with an error at the cap,
 * so neither the openai client nor @tmb/client (which keeps the exact bytes) buffers without bound.
 */
export function cappedFetch(max: number, base: typeof fetch = globalThis.fetch): typeof fetch {
  return (async (input: RequestInfo | URL, init?: RequestInit) => {
    const res = await base(input, init);
    if (res.body === null) return res;
    let seen = 0;
    const cap = new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        seen += chunk.byteLength;
        if (seen > max) controller.error(new ChatFailure('CLI_FAILED', `answer larger than ${max} bytes`));
        else controller.enqueue(chunk);
      },
    });
    const out = new Response(res.body.pipeThrough(cap), {
      status: res.status,
      statusText: res.statusText,
      headers: res.headers,
    });
    Object.defineProperty(out, 'url', { value: res.url });
    return out;
  }) as typeof fetch;
}

/**
 * Sends the conversation so far and returns the answer with its verdict. With `onToken` the
 * answer is asked for as a stream (SSE) and each piece of text is passed on as it arrives; the
 * stream is read to its end either way, since the receipt covers every byte of it.
 * @throws ChatFailure when there is no OpenAI answer to judge.
 */
export async function sendTurn(
  s: Session,
  messages: readonly ChatMessage[],
  signal: AbortSignal,
  onToken?: (text: string) => void,
): Promise<Turn> {
  try {
    let answer: string;
    let response: Response;
    if (onToken === undefined) {
      const r = await s.openai.chat.completions
        .create({ model: s.model, messages: [...messages] }, { signal })
        .withResponse();
      response = r.response;
      answer = contentOf(r.data, s.baseUrl);
    } else {
      const r = await s.openai.chat.completions
        .create(
          { model: s.model, messages: [...messages], stream: true, stream_options: { include_usage: true } },
          { signal },
        )
        .withResponse();
      response = r.response;
      answer = '';
      let chunks = 0;
      for await (const chunk of r.data) {
        if (!Array.isArray((chunk as { choices?: unknown }).choices))
          throw notOpenAi(s.baseUrl, 'a stream event without choices');
        chunks++;
        const text = chunk.choices[0]?.delta?.content;
        if (typeof text === 'string' && text !== '') {
          answer += text;
          onToken(text);
        }
      }
      if (chunks === 0) throw notOpenAi(s.baseUrl, 'no chat completion chunks in the stream');
    }
    // An answer cut by the user is not worth a verdict (the openai stream ends quietly on abort).
    signal.throwIfAborted();
    return turnOf(answer, await s.tmb.verify(response));
  } catch (err) {
    throw failure(err, s.baseUrl);
  }
}

/** The assistant's text of a chat completion, or ChatFailure when the answer is not one. */
function contentOf(data: unknown, base: string): string {
  const choices = (data as { choices?: unknown } | null)?.choices;
  if (typeof data !== 'object' || data === null || !Array.isArray(choices))
    throw notOpenAi(base, typeof data === 'string' ? 'a body that is not JSON' : 'JSON without choices');
  const content = (choices[0] as { message?: { content?: unknown } } | undefined)?.message?.content;
  if (typeof content !== 'string' && content !== null) throw notOpenAi(base, 'no message content');
  return content ?? '';
}

function notOpenAi(base: string, what: string): ChatFailure {
  return new ChatFailure(
    'CLI_FAILED',
    `${base}/chat/completions did not answer as an OpenAI-compatible server: ${what}`,
  );
}

/** The ChatFailure of an error thrown while asking (openai's errors carry the cause). */
export function failure(err: unknown, base: string): ChatFailure {
  if (err instanceof ChatFailure) return err;
  if (err instanceof OpenAI.APIConnectionTimeoutError)
    return new ChatFailure('CLI_IO_FAILED', `no answer from ${base} within ${ANSWER_TIMEOUT_MS / 1000} s`, {
      cause: err,
    });
  if (err instanceof OpenAI.APIConnectionError) {
    const cause = (err.cause as { cause?: { code?: unknown }; code?: unknown } | undefined) ?? {};
    const code = cause.cause?.code ?? cause.code;
    return new ChatFailure(
      'CLI_IO_FAILED',
      `cannot reach the provider at ${base}${typeof code === 'string' ? `: ${code}` : `: ${err.message}`}`,
      { cause: err },
    );
  }
  if (err instanceof OpenAI.APIError && typeof err.status === 'number')
    return new ChatFailure(
      'CLI_FAILED',
      `the provider at ${base} answered HTTP ${err.status}: ${err.message}`,
      {
        cause: err,
      },
    );
  if (err instanceof SyntaxError) return notOpenAi(base, `its JSON does not parse (${err.message})`);
  if (err instanceof Error && err.name === 'AbortError')
    return new ChatFailure('CLI_FAILED', 'the request was cancelled', { cause: err });
  return new ChatFailure('CLI_FAILED', err instanceof Error ? err.message : String(err), { cause: err });
}
