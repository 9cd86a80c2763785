import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { SampleError, type SampleErrorCode } from '../../src/sample/errors.ts';
import { parseBody, parseCompletion, parseEmbedding } from '../../src/sample/parse.ts';

const M = 'sample-7b';
const bytes = (s: string) => new TextEncoder().encode(s);
const code = (c: SampleErrorCode) => (e: unknown) => e instanceof SampleError && e.code === c;

test('malformed bodies are refused with the exact code', () => {
  const cases: Array<[string, SampleErrorCode]> = [
    ['', 'invalid_json'],
    ['{"model": ', 'invalid_json'],
    ['\xff', 'invalid_json'],
    ['[]', 'invalid_request'],
    ['null', 'invalid_request'],
    ['"x"', 'invalid_request'],
    ['{}', 'invalid_request'],
    ['{"model": 7}', 'invalid_request'],
    ['{"model": "other"}', 'model_not_found'],
  ];
  for (const [body, c] of cases) assert.throws(() => parseBody(bytes(body), M), code(c), body);
});

test('malformed completion fields are refused with invalid_request and the param named', () => {
  const cases: Array<[object, boolean, string]> = [
    [{}, true, 'messages'],
    [{ messages: [] }, true, 'messages'],
    [{ messages: [1] }, true, 'messages'],
    [{ messages: [{ content: 'x' }] }, true, 'messages'],
    [{}, false, 'prompt'],
    [{ prompt: 'x', max_tokens: 0 }, false, 'max_tokens'],
    [{ prompt: 'x', max_tokens: 1.5 }, false, 'max_tokens'],
    [{ prompt: 'x', max_tokens: '5' }, false, 'max_tokens'],
    [{ prompt: 'x', n: 17 }, false, 'n'],
    [{ prompt: 'x', stream: 'yes' }, false, 'stream'],
    [{ prompt: 'x', stream_options: { include_usage: 1 } }, false, 'include_usage'],
  ];
  for (const [json, chat, param] of cases)
    assert.throws(
      () => parseCompletion(json as Record<string, unknown>, chat),
      (e: unknown) => code('invalid_request')(e) && (e as SampleError).param === param,
      JSON.stringify(json),
    );
});

test('completion fields are read: max_completion_tokens wins, include_usage, vLLM extensions', () => {
  const r = parseCompletion(
    {
      messages: [{ role: 'user', content: [{ type: 'text', text: 'hello there' }] }],
      max_tokens: 9,
      max_completion_tokens: 4,
      stream: true,
      stream_options: { include_usage: true },
      ignore_eos: true,
      min_tokens: 2,
      n: 2,
      seed: -3,
    },
    true,
  );
  assert.deepEqual(
    [r.maxTokens, r.stream, r.includeUsage, r.ignoreEos, r.minTokens, r.n, r.seed, r.promptTokens],
    [4, true, true, true, 2, 2, -3, 3 + 4],
  );
});

test('embedding inputs: string, strings, one token array, token arrays; bad ones refused', () => {
  assert.deepEqual(parseEmbedding({ input: 'a' }).inputs, ['a']);
  assert.deepEqual(parseEmbedding({ input: ['a', 'b'] }).inputs, ['a', 'b']);
  assert.deepEqual(parseEmbedding({ input: [1, 2] }).inputs, ['[1,2]']);
  assert.deepEqual(parseEmbedding({ input: [[1], [2]] }).inputs, ['[1]', '[2]']);
  assert.equal(parseEmbedding({ input: 'a' }).dimensions, 256);
  for (const json of [
    {},
    { input: [] },
    { input: 5 },
    { input: 'a', encoding_format: 'hex' },
    { input: 'a', dimensions: 0 },
  ])
    assert.throws(() => parseEmbedding(json), code('invalid_request'), JSON.stringify(json));
});

test('property: any bytes either parse or raise SampleError, never anything else', () => {
  fc.assert(
    fc.property(fc.oneof(fc.uint8Array({ maxLength: 64 }), fc.json().map(bytes)), (b) => {
      try {
        const json = parseBody(b, M);
        parseCompletion(json, true);
      } catch (e) {
        assert.ok(e instanceof SampleError, String(e));
      }
    }),
  );
});

test('property: any JSON object with the model gives a completion request or SampleError', () => {
  fc.assert(
    fc.property(fc.dictionary(fc.string(), fc.jsonValue()), fc.boolean(), (extra, chat) => {
      try {
        const r = parseCompletion({ ...extra, model: M }, chat);
        assert.ok(r.n >= 1 && r.n <= 16 && r.minTokens >= 0);
      } catch (e) {
        assert.ok(e instanceof SampleError, String(e));
      }
    }),
  );
});
