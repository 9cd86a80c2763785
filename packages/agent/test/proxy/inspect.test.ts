import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { ResponseInspector, requestedModel } from '../../src/proxy/inspect.ts';

const sse = [
  'data: {"id":"1","model":"served","choices":[{"delta":{"content":"a"}}]}\n\n',
  'data: {"id":"1","model":"served","choices":[{"delta":{"content":"b"}}]}\r\n\r\n',
  ': keep-alive comment\n\n',
  'data: {"id":"1","model":"served","choices":[],"usage":{"prompt_tokens":5,"completion_tokens":2,"total_tokens":7}}\n\n',
  'data: [DONE]\n\n',
].join('');

function feed(text: string | Buffer, cuts: number[], type = 'text/event-stream'): ResponseInspector {
  const bytes = Buffer.from(text);
  const ins = new ResponseInspector(type, undefined);
  let at = 0;
  for (const c of [...cuts].sort((a, b) => a - b)) {
    ins.push(bytes.subarray(at, c));
    at = c;
  }
  ins.push(bytes.subarray(at));
  ins.finish();
  return ins;
}

test('SSE: the model comes from the first event, usage from the last event carrying it', () => {
  const ins = feed(sse, []);
  assert.equal(ins.stream, true);
  assert.equal(ins.model, 'served');
  assert.deepEqual(ins.usage, { prompt: 5, completion: 2, total: 7 });
});

test('SSE split at any byte boundaries reads the same', () => {
  fc.assert(
    fc.property(fc.array(fc.nat(Buffer.byteLength(sse)), { maxLength: 20 }), (cuts) => {
      const ins = feed(sse, cuts);
      assert.equal(ins.model, 'served');
      assert.deepEqual(ins.usage, { prompt: 5, completion: 2, total: 7 });
    }),
  );
});

test('JSON bodies: model and usage; content-encoded bodies are not inspected', () => {
  const json = '{"model":"m","usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3}}';
  const ins = feed(json, [3, 9], 'application/json');
  assert.equal(ins.stream, false);
  assert.equal(ins.model, 'm');
  assert.deepEqual(ins.usage, { prompt: 1, completion: 2, total: 3 });
  const gz = new ResponseInspector('application/json', 'gzip');
  gz.push(Buffer.from(json));
  gz.finish();
  assert.equal(gz.model, null);
});

test('hostile values are ignored, not trusted: huge model names, negative or fractional counts', () => {
  const ins = feed(
    JSON.stringify({
      model: 'x'.repeat(300),
      usage: { prompt_tokens: -1, completion_tokens: 1.5, total_tokens: 'a' },
    }),
    [],
    'application/json',
  );
  assert.equal(ins.model, null);
  assert.deepEqual(ins.usage, { prompt: null, completion: null, total: null });
});

test('random bytes never throw, in either mode', () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ maxLength: 3000 }),
      fc.array(fc.nat(3000), { maxLength: 8 }),
      fc.boolean(),
      (b, cuts, streamed) => {
        const ins = feed(
          Buffer.from(b),
          cuts.filter((c) => c <= b.length),
          streamed ? 'text/event-stream' : 'application/json',
        );
        assert.ok(ins.model === null || typeof ins.model === 'string');
      },
    ),
  );
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 500 }), fc.option(fc.string()), (b, ct) => {
      const m = requestedModel(b, ct ?? undefined);
      assert.ok(m === null || typeof m === 'string');
    }),
  );
});

test('the requested model is read from JSON bodies however they are labelled', () => {
  assert.equal(requestedModel(Buffer.from(' {"model":"a"}'), 'text/plain'), 'a');
  assert.equal(requestedModel(Buffer.from('{"model":"a"}'), undefined), 'a');
  assert.equal(requestedModel(Buffer.from('model=a'), 'application/x-www-form-urlencoded'), null);
  assert.equal(requestedModel(Buffer.from('{"model":7}'), 'application/json'), null);
});
