import assert from 'node:assert/strict';
import { test } from 'node:test';
import { displayPath, pathBytes, pathText } from '@tmb/core/ima';
import fc from 'fast-check';

// Names that are not UTF-8 decode as Python's surrogateescape does (docs/ima.md), so that a
// policy written by Python tooling names them with the same string.

// Made with python3: [c.hex(), c.decode('utf-8', 'surrogateescape')] for each case; then
// json.dumps. Invalid, truncated, surrogate, over U+10FFFF and overlong sequences, valid ones.
const PYTHON = JSON.parse(
  String.raw`[["2f61ff", "/a\udcff"], ["e28278", "\udce2\udc82x"], ["eda080", "\udced\udca0\udc80"], ["f4908080", "\udcf4\udc90\udc80\udc80"], ["c0af", "\udcc0\udcaf"], ["636166c3a9", "caf\u00e9"], ["f09f988080", "\ud83d\ude00\udc80"], ["e080af", "\udce0\udc80\udcaf"], ["efbbbf", "\ufeff"]]`,
) as [string, string][];

test('pathText equals Python bytes.decode("utf-8", "surrogateescape") on known answers', () => {
  for (const [hex, text] of PYTHON) {
    const b = Buffer.from(hex, 'hex');
    assert.equal(pathText(b, 0, b.length), text, hex);
    assert.deepEqual(Buffer.from(pathBytes(text)).toString('hex'), hex);
  }
});

test('property: pathBytes inverts pathText for any bytes, and distinct names stay distinct', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 64 }), fc.uint8Array({ maxLength: 64 }), (a, b) => {
      const ta = pathText(a, 0, a.length);
      assert.deepEqual([...pathBytes(ta)], [...a]);
      if (Buffer.compare(Buffer.from(a), Buffer.from(b)) !== 0) assert.notEqual(ta, pathText(b, 0, b.length));
    }),
    { numRuns: 500 },
  );
});

test('displayPath escapes raw bytes, control characters and backslashes, and leaves the rest', () => {
  assert.equal(displayPath('/usr/bin/bash'), '/usr/bin/bash');
  assert.equal(displayPath('/a\udcff\n\\é'), '/a\\xff\\x0a\\\\é');
});
