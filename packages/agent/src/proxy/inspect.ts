/**
 * Reads the model name and token usage out of request and response bodies, best effort:
 * the proxy never fails or changes an exchange because a body is not what it expected.
 */

/** Largest non-streamed response body kept for inspection; bytes past it are hashed but not parsed. */
const MAX_INSPECT = 4 * 1024 * 1024;
const MAX_MODEL = 256;
const USAGE = Buffer.from('"usage"');

export interface Usage {
  prompt: number | null;
  completion: number | null;
  total: number | null;
}

export const NO_USAGE: Usage = { prompt: null, completion: null, total: null };

/** `model` from a JSON request body, or null. */
export function requestedModel(body: Uint8Array, contentType: string | undefined): string | null {
  if (body.length === 0 || body.length > MAX_INSPECT) return null;
  // Routers and clients label JSON loosely (text/plain, none): look at JSON labels and at bodies that open with '{'.
  const first = body.find((b) => b !== 0x20 && b !== 0x0a && b !== 0x0d && b !== 0x09);
  if (!(contentType?.includes('json') ?? false) && first !== 0x7b) return null;
  return modelOf(parseJson(Buffer.from(body.buffer, body.byteOffset, body.length).toString('utf8')));
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function modelOf(v: unknown): string | null {
  const m = (v as { model?: unknown } | null)?.model;
  return typeof m === 'string' && m.length <= MAX_MODEL ? m : null;
}

function count(v: unknown): number | null {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? v : null;
}

function usageOf(v: unknown): Usage | null {
  const u = (v as { usage?: unknown } | null)?.usage;
  if (typeof u !== 'object' || u === null) return null;
  const r = u as Record<string, unknown>;
  return {
    prompt: count(r.prompt_tokens),
    completion: count(r.completion_tokens),
    total: count(r.total_tokens),
  };
}

/**
 * Watches a response body as it streams past. For `text/event-stream` it scans SSE `data:`
 * lines incrementally and parses only the first event (for the model) and events that carry
 * usage; for JSON it keeps the body up to MAX_INSPECT and parses it at the end.
 */
export class ResponseInspector {
  model: string | null = null;
  usage: Usage = NO_USAGE;
  readonly #sse: boolean;
  readonly #json: boolean;
  #parts: Buffer[] = [];
  #kept = 0;
  #line = '';
  #sawEvent = false;

  constructor(contentType: string | undefined, contentEncoding: string | undefined) {
    const plain = contentEncoding === undefined || contentEncoding === 'identity';
    this.#sse = plain && (contentType?.startsWith('text/event-stream') ?? false);
    this.#json = plain && !this.#sse && (contentType?.includes('json') ?? false);
  }

  get stream(): boolean {
    return this.#sse;
  }

  push(chunk: Buffer): void {
    if (this.#sse) {
      // Fast path for the bulk of a stream: once the first event is seen, only lines carrying
      // usage matter. A chunk that neither continues a partial line nor contains `"usage"` is
      // skipped after a native search, so per-event cost stays at a memchr (bench/sse.bench.ts).
      if (this.#sawEvent && this.#line === '' && !chunk.includes(USAGE)) {
        const nl = chunk.lastIndexOf(10);
        if (nl !== chunk.length - 1) this.#line = chunk.toString('latin1', nl + 1);
        return;
      }
      this.#scan(chunk);
    } else if (this.#json && this.#kept + chunk.length <= MAX_INSPECT) {
      this.#parts.push(chunk);
      this.#kept += chunk.length;
    } else this.#parts = [];
  }

  finish(): void {
    if (this.#sse) {
      this.#onLine(this.#line);
      return;
    }
    if (!this.#json || this.#parts.length === 0) return;
    const v = parseJson(Buffer.concat(this.#parts).toString('utf8'));
    this.model = modelOf(v);
    this.usage = usageOf(v) ?? NO_USAGE;
    this.#parts = [];
  }

  #scan(chunk: Buffer): void {
    const text = this.#line + chunk.toString('latin1');
    let start = 0;
    for (let nl = text.indexOf('\n'); nl !== -1; nl = text.indexOf('\n', start)) {
      this.#onLine(text.slice(start, nl));
      start = nl + 1;
    }
    // A line longer than MAX_INSPECT is not an event we need; drop it rather than grow without bound.
    this.#line = text.length - start > MAX_INSPECT ? '' : text.slice(start);
  }

  #onLine(raw: string): void {
    if (!raw.startsWith('data:')) return;
    const first = !this.#sawEvent;
    const hasUsage = raw.includes('"usage":{');
    if (!first && !hasUsage) return;
    const data = raw.slice(raw.charAt(5) === ' ' ? 6 : 5).replace(/\r$/, '');
    if (data === '[DONE]') return;
    this.#sawEvent = true;
    const v = parseJson(Buffer.from(data, 'latin1').toString('utf8'));
    if (first) this.model = modelOf(v);
    const u = usageOf(v);
    if (u !== null) this.usage = u;
  }
}
