import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CoreError, ParseError, TmbError } from '@tmb/core';

// The base every package's error class subclasses (issue 11): what callers and logs see of an
// error must be what the hand-written classes gave.

class ExampleError extends TmbError<'EXAMPLE_ONE' | 'EXAMPLE_TWO'> {
  constructor(code: 'EXAMPLE_ONE' | 'EXAMPLE_TWO', message: string, options?: ErrorOptions) {
    super('ExampleError', code, message, options);
  }
}

test('a subclass keeps its name, code, message and cause, and instanceof works up the chain', () => {
  const cause = new Error('inner');
  const e = new ExampleError('EXAMPLE_TWO', 'what was expected, what was found', { cause });
  assert.equal(e.name, 'ExampleError');
  assert.equal(e.code, 'EXAMPLE_TWO');
  assert.equal(e.message, 'what was expected, what was found');
  assert.equal(e.cause, cause);
  assert.ok(e instanceof ExampleError && e instanceof TmbError && e instanceof Error);
  assert.match(String(e), /^ExampleError: what was expected/);
  assert.match(e.stack ?? '', /ExampleError: what was expected/);
  assert.equal(Object.hasOwn(new ExampleError('EXAMPLE_ONE', 'x'), 'cause'), false);
});

test('own enumerable properties are name then code, as the hand-written classes set them', () => {
  const e = new ExampleError('EXAMPLE_ONE', 'm');
  assert.deepEqual(Object.keys(e), ['name', 'code']);
  assert.equal(JSON.stringify(e), '{"name":"ExampleError","code":"EXAMPLE_ONE"}');
});

test('CoreError and ParseError are TmbErrors with their names and fields', () => {
  const c = new CoreError('TRUNCATED', 'short');
  assert.ok(c instanceof TmbError);
  assert.deepEqual([c.name, c.code, c.message], ['CoreError', 'TRUNCATED', 'short']);
  const p = new ParseError('TRUNCATED', 'TPMS_ATTEST', 'magic', 4, 'needs 4 bytes');
  assert.ok(p instanceof CoreError && p instanceof TmbError);
  assert.deepEqual(
    [p.name, p.code, p.message],
    ['ParseError', 'TRUNCATED', 'TPMS_ATTEST.magic at byte 4: needs 4 bytes'],
  );
  assert.deepEqual([p.structure, p.field, p.offset], ['TPMS_ATTEST', 'magic', 4]);
});
