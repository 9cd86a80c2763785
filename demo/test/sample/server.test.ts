import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, test } from 'node:test';
import {
  type GenerationEvent,
  type RunningSampleServer,
  SAMPLE_SERVER_HEADER,
  startSampleServer,
} from '@tmb/demo';
import OpenAI from 'openai';

const MODEL = 'sample-7b';
let honest: RunningSampleServer;
let cheap: RunningSampleServer;
const events: GenerationEvent[] = [];
const client = (s: RunningSampleServer) =>
  new OpenAI({ baseURL: `${s.url}/v1`, apiKey: 'unused', maxRetries: 0 });
const messages = [{ role: 'user' as const, content: 'Which model answered?' }];

before(async () => {
  honest = await startSampleServer({ model: MODEL, tokenLatencyMs: 0, onGeneration: (e) => events.push(e) });
  cheap = await startSampleServer({ model: MODEL, variant: 'cheap', tokenLatencyMs: 0 });
});
after(async () => {
  await honest.close();
  await cheap.close();
});

async function raw(s: RunningSampleServer, path: string, body: string, method = 'POST') {
  const res = await fetch(`${s.url}${path}`, { method, body: method === 'GET' ? undefined : body });
  return { res, bytes: new Uint8Array(await res.arrayBuffer()) };
}

test('/v1/models names the one model, owned by tmb-sample, and the server header says sample', async () => {
  const page = await client(honest).models.list();
  assert.deepEqual(
    page.data.map((m) => [m.id, m.owned_by]),
    [[MODEL, 'tmb-sample']],
  );
  const { res } = await raw(honest, '/v1/models', '', 'GET');
  assert.equal(res.headers.get('server'), SAMPLE_SERVER_HEADER);
  assert.match(SAMPLE_SERVER_HEADER, /sample/);
});

test('chat completion through the official client: text, usage, deterministic bytes', async () => {
  const c = await client(honest).chat.completions.create({ model: MODEL, messages });
  assert.equal(c.model, MODEL);
  assert.equal(c.choices[0]!.finish_reason, 'stop');
  const text = c.choices[0]!.message.content!;
  assert.ok(text.length > 0);
  assert.ok(c.usage!.completion_tokens >= 24 && c.usage!.completion_tokens <= 64);
  assert.equal(c.usage!.total_tokens, c.usage!.prompt_tokens + c.usage!.completion_tokens);
  const body = JSON.stringify({ model: MODEL, messages });
  const a = await raw(honest, '/v1/chat/completions', body);
  const b = await raw(honest, '/v1/chat/completions', body);
  const hash = (x: Uint8Array) => createHash('sha256').update(x).digest('hex');
  assert.equal(hash(a.bytes), hash(b.bytes));
  assert.equal(JSON.parse(Buffer.from(a.bytes).toString()).choices[0].message.content, text);
});

test('streamed chat with include_usage: deltas join to the unstreamed text, then usage, then [DONE]', async () => {
  const whole = await client(honest).chat.completions.create({ model: MODEL, messages });
  const stream = await client(honest).chat.completions.create({
    model: MODEL,
    messages,
    stream: true,
    stream_options: { include_usage: true },
  });
  let text = '';
  let usage: OpenAI.CompletionUsage | null | undefined;
  let finish: string | null = null;
  for await (const chunk of stream) {
    text += chunk.choices[0]?.delta.content ?? '';
    finish = chunk.choices[0]?.finish_reason ?? finish;
    if (chunk.usage) usage = chunk.usage;
  }
  assert.equal(text, whole.choices[0]!.message.content);
  assert.equal(finish, 'stop');
  assert.deepEqual(usage, whole.usage);
  const { res, bytes } = await raw(
    honest,
    '/v1/chat/completions',
    JSON.stringify({ model: MODEL, messages, stream: true }),
  );
  assert.match(res.headers.get('content-type')!, /^text\/event-stream/);
  const sse = Buffer.from(bytes).toString();
  assert.ok(sse.endsWith('data: [DONE]\n\n'));
  assert.ok(!sse.includes('"usage"'), 'no usage without stream_options.include_usage');
  assert.ok(
    sse
      .split('\n\n')
      .slice(0, -1)
      .every((e) => e.startsWith('data: ')),
  );
});

test('max_tokens is honoured, streamed and not, with finish_reason length', async () => {
  const c = await client(honest).chat.completions.create({ model: MODEL, messages, max_tokens: 5 });
  assert.equal(c.usage!.completion_tokens, 5);
  assert.equal(c.choices[0]!.finish_reason, 'length');
  const s = await client(honest).completions.create({
    model: MODEL,
    prompt: 'x',
    max_tokens: 3,
    stream: true,
  });
  let n = 0;
  for await (const chunk of s) if (chunk.choices[0]!.text !== '') n++;
  assert.equal(n, 3);
});

test('ignore_eos with a large max_tokens gives a long stream of that many events', async () => {
  const { bytes } = await raw(
    honest,
    '/v1/completions',
    JSON.stringify({ model: MODEL, prompt: 'go', max_tokens: 5000, ignore_eos: true, stream: true }),
  );
  const sse = Buffer.from(bytes)
    .toString()
    .split('\n\n')
    .filter((e) => e !== '');
  assert.equal(sse.length, 5000 + 2); // tokens, the finish chunk, [DONE]
});

test('the cheap variant answers under the same name with shorter, different text', async () => {
  const h = await client(honest).chat.completions.create({ model: MODEL, messages });
  const c = await client(cheap).chat.completions.create({ model: MODEL, messages });
  assert.equal(c.model, MODEL);
  assert.notEqual(c.choices[0]!.message.content, h.choices[0]!.message.content);
  assert.ok(c.usage!.completion_tokens < h.usage!.completion_tokens);
  assert.deepEqual(
    (await client(cheap).models.list()).data.map((m) => m.id),
    [MODEL],
  );
});

test('legacy completions, unstreamed', async () => {
  const c = await client(honest).completions.create({ model: MODEL, prompt: 'Once upon a time' });
  assert.equal(c.object, 'text_completion');
  assert.ok(c.choices[0]!.text.length > 0);
  assert.ok(c.usage!.completion_tokens > 0);
});

test('embeddings: deterministic unit vectors, base64 (the client default) equals float', async () => {
  const e1 = await client(honest).embeddings.create({ model: MODEL, input: ['a', 'b'] });
  const e2 = await client(honest).embeddings.create({
    model: MODEL,
    input: ['a', 'b'],
    encoding_format: 'float',
  });
  assert.equal(e1.data.length, 2);
  assert.deepEqual(e1.data[0]!.embedding, e2.data[0]!.embedding);
  assert.notDeepEqual(e1.data[0]!.embedding, e1.data[1]!.embedding);
  const norm = Math.hypot(...e1.data[0]!.embedding);
  assert.ok(Math.abs(norm - 1) < 1e-5);
  const d = await client(honest).embeddings.create({ model: MODEL, input: 'a', dimensions: 8 });
  assert.equal(d.data[0]!.embedding.length, 8);
  const c = await client(cheap).embeddings.create({ model: MODEL, input: ['a'] });
  assert.notDeepEqual(c.data[0]!.embedding, e1.data[0]!.embedding);
});

test('invalid JSON is a 400 in OpenAI error shape; the client raises BadRequestError', async () => {
  const { res, bytes } = await raw(honest, '/v1/chat/completions', '{"model": ');
  assert.equal(res.status, 400);
  const err = JSON.parse(Buffer.from(bytes).toString()).error;
  assert.equal(err.type, 'invalid_request_error');
  assert.equal(err.code, 'invalid_json');
  assert.equal(typeof err.message, 'string');
  await assert.rejects(
    client(honest).chat.completions.create({ model: MODEL, messages: [] }),
    (e: unknown) => e instanceof OpenAI.BadRequestError && e.code === 'invalid_request',
  );
});

test('other bad requests: unknown model 404, unknown path 404, wrong method 405, oversized body 413', async () => {
  await assert.rejects(
    client(honest).chat.completions.create({ model: 'gpt-5', messages }),
    (e: unknown) => e instanceof OpenAI.NotFoundError && e.code === 'model_not_found',
  );
  assert.equal((await raw(honest, '/v1/nothing', '{}')).res.status, 404);
  assert.equal((await raw(honest, '/v1/chat/completions', '', 'GET')).res.status, 405);
  const small = await startSampleServer({ model: MODEL, maxBodyBytes: 100 });
  try {
    const { res, bytes } = await raw(
      small,
      '/v1/completions',
      JSON.stringify({ model: MODEL, prompt: 'x'.repeat(200) }),
    );
    assert.equal(res.status, 413);
    assert.equal(JSON.parse(Buffer.from(bytes).toString()).error.code, 'body_too_large');
  } finally {
    await small.close();
  }
});

test('onGeneration reports each generation (the seam for simulated telemetry)', async () => {
  events.length = 0;
  await client(honest).chat.completions.create({ model: MODEL, messages, max_tokens: 7 });
  assert.equal(events.length, 1);
  assert.equal(events[0]!.endpoint, 'chat.completions');
  assert.equal(events[0]!.completionTokens, 7);
  assert.equal(events[0]!.completed, true);
});

test('a client that goes away mid-stream stops the generation, reported as not completed', async () => {
  let resolve: (e: GenerationEvent) => void;
  const ended = new Promise<GenerationEvent>((r) => {
    resolve = r;
  });
  const slow = await startSampleServer({ model: MODEL, tokenLatencyMs: 2, onGeneration: (e) => resolve(e) });
  try {
    const stream = await client(slow).completions.create({
      model: MODEL,
      prompt: 'x',
      max_tokens: 100_000,
      stream: true,
      ignore_eos: true,
    } as OpenAI.CompletionCreateParamsStreaming);
    let seen = 0;
    // Leaving the loop early makes the client abort its request.
    for await (const _ of stream) if (++seen === 3) break;
    const e = await ended;
    assert.equal(e.completed, false);
    assert.equal(e.completionTokens, 100_000);
  } finally {
    await slow.close();
  }
});
