import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import {
  AGENT_NAME_PATTERN,
  canonicalBytes,
  decodeReceiptBody,
  fromBase64Url,
  isAgentName,
  isReceiptId,
  RECEIPT_ID_PATTERN,
} from '@tmb/core';
import fc from 'fast-check';

test('receipt ids: 32 lower-case hex digits', () => {
  assert.equal(RECEIPT_ID_PATTERN.source, '^[0-9a-f]{32}$');
  assert.equal(isReceiptId('0123456789abcdef0123456789abcdef'), true);
  for (const bad of [
    '',
    '0123456789abcdef0123456789abcde',
    '0123456789abcdef0123456789abcdef0',
    '0123456789ABCDEF0123456789abcdef',
    '0123456789abcdef0123456789abcdeg',
    '0123456789abcdef0123456789abcdef\n',
    ' 0123456789abcdef0123456789abcdef',
    null,
    undefined,
    123,
  ])
    assert.equal(isReceiptId(bad), false, JSON.stringify(bad));
});

test('property: isReceiptId is exactly 32 characters of 0-9a-f', () => {
  const hexish = fc.string({ unit: fc.constantFrom(...'0123456789abcdefABCDEFg \n'), maxLength: 34 });
  fc.assert(
    fc.property(fc.oneof(hexish, fc.string({ maxLength: 34 })), (s) => {
      assert.equal(isReceiptId(s), s.length === 32 && [...s].every((c) => '0123456789abcdef'.includes(c)));
    }),
  );
});

test('agent names: 1 to 128 of 0x21..0x7e, "+" included (the verifier accepted set, docs/api.md)', () => {
  assert.equal(AGENT_NAME_PATTERN.source, '^[\\x21-\\x7e]{1,128}$');
  for (const ok of ['gpu-1', 'a', 'a+b', '~!', 'x'.repeat(128), 'tmb/agent/x'])
    assert.equal(isAgentName(ok), true, ok);
  for (const bad of ['', 'x'.repeat(129), 'a b', 'a\tb', 'a\x7f', 'é', 'a\n', null, 7])
    assert.equal(isAgentName(bad), false, JSON.stringify(bad));
});

test('property: isAgentName is exactly length 1..128 of printable ASCII without space', () => {
  const chars = fc.string({
    unit: fc.integer({ min: 0x00, max: 0x80 }).map((c) => String.fromCharCode(c)),
    maxLength: 140,
  });
  fc.assert(
    fc.property(chars, (s) => {
      const expected = s.length >= 1 && s.length <= 128 && [...s].every((c) => c >= '\x21' && c <= '\x7e');
      assert.equal(isAgentName(s), expected);
    }),
  );
});

test('property: a receipt body accepts exactly the agent names isAgentName accepts', () => {
  // The first receipt vector, with its agent replaced.
  const file = new URL('../vectors/receipt/vectors.json', import.meta.url);
  const first = JSON.parse(readFileSync(file, 'utf8')).vectors[0].body as string;
  const parsed = JSON.parse(new TextDecoder().decode(fromBase64Url(first)));
  const body = (agent: string) => canonicalBytes({ ...parsed, agent });
  assert.equal(decodeReceiptBody(body('gpu-1')).agent, 'gpu-1');
  fc.assert(
    fc.property(
      fc.oneof(fc.string({ maxLength: 130 }), fc.stringMatching(/^[\x21-\x7e]{120,130}$/)),
      (agent) => {
        let accepted = true;
        try {
          decodeReceiptBody(body(agent));
        } catch (e) {
          assert.equal((e as { code?: string }).code, 'RECEIPT_MALFORMED');
          accepted = false;
        }
        assert.equal(accepted, isAgentName(agent));
      },
    ),
  );
});
