import assert from 'node:assert/strict';
import { createPrivateKey, createPublicKey, sign } from 'node:crypto';
import { test } from 'node:test';
import { CoreError, ed25519Raw, utf8 } from '@tmb/core';
import {
  consistencyProof,
  decodeConsistencyProof,
  decodeInclusionProof,
  ed25519NoteSigner,
  ed25519NoteVerifier,
  encodeConsistencyProof,
  encodeInclusionProof,
  inclusionProof,
  leafHash,
  MemoryTree,
  nodeHash,
  openCheckpoint,
  parseCheckpoint,
  parseNote,
  parseVerifierKey,
  signCheckpoint,
  verifyConsistency,
  verifyInclusion,
} from '@tmb/core/log';
import fc from 'fast-check';

const RUNS = { numRuns: 200 };
const leaves = fc.array(fc.uint8Array({ maxLength: 16 }), { minLength: 1, maxLength: 150 });

// RFC 9162 section 2.1.1 MTH, written straight from the definition, as an oracle.
function mth(h: Uint8Array[]): Uint8Array {
  if (h.length === 1) return h[0]!;
  let k = 1;
  while (k * 2 < h.length) k *= 2;
  return nodeHash(mth(h.slice(0, k)), mth(h.slice(k)));
}

function flip(bytes: Uint8Array, bit: number): Uint8Array {
  const out = bytes.slice();
  out[Math.floor(bit / 8) % out.length]! ^= 1 << (bit % 8);
  return out;
}

test('random trees: roots agree with the RFC definition; every inclusion proof verifies, a flipped bit fails', () => {
  fc.assert(
    fc.property(leaves, fc.nat(), fc.nat(), fc.nat(), (data, a, b, bit) => {
      const hashes = data.map(leafHash);
      const tree = new MemoryTree(hashes);
      const size = 1 + (a % data.length);
      const index = b % size;
      const root = tree.root(size);
      assert.deepEqual(root, mth(hashes.slice(0, size)));
      const p = inclusionProof(tree, index, size);
      assert.ok(verifyInclusion(hashes[index]!, p, root).ok);
      assert.deepEqual(decodeInclusionProof(JSON.parse(JSON.stringify(encodeInclusionProof(p)))), p);
      assert.equal(verifyInclusion(flip(hashes[index]!, bit), p, root).ok, false, 'leaf');
      assert.equal(verifyInclusion(hashes[index]!, p, flip(root, bit)).ok, false, 'root');
      if (p.hashes.length > 0) {
        const at = bit % p.hashes.length;
        const bad = p.hashes.map((h, i) => (i === at ? flip(h, bit >> 5) : h));
        assert.equal(verifyInclusion(hashes[index]!, { ...p, hashes: bad }, root).ok, false, 'path');
      }
    }),
    RUNS,
  );
});

test('random trees: every consistency proof verifies, a flipped bit fails', () => {
  fc.assert(
    fc.property(leaves, fc.nat(), fc.nat(), fc.nat(), (data, a, b, bit) => {
      const tree = new MemoryTree(data.map(leafHash));
      const to = 1 + (a % data.length);
      const from = b % (to + 1);
      const p = consistencyProof(tree, from, to);
      const r1 = tree.root(from);
      const r2 = tree.root(to);
      assert.ok(verifyConsistency(p, r1, r2).ok);
      assert.deepEqual(decodeConsistencyProof(JSON.parse(JSON.stringify(encodeConsistencyProof(p)))), p);
      assert.equal(verifyConsistency(p, flip(r1, bit), r2).ok, false, 'old root');
      // The empty tree is a prefix of every tree: from 0, any new root is consistent.
      if (from > 0) assert.equal(verifyConsistency(p, r1, flip(r2, bit)).ok, false, 'new root');
      if (p.hashes.length > 0) {
        const at = bit % p.hashes.length;
        const bad = p.hashes.map((h, i) => (i === at ? flip(h, bit >> 5) : h));
        assert.equal(verifyConsistency({ ...p, hashes: bad }, r1, r2).ok, false, 'path');
      }
    }),
    RUNS,
  );
});

const isCoreError = (f: () => unknown) => {
  try {
    f();
  } catch (err) {
    assert.ok(err instanceof CoreError, `not a CoreError: ${err}`);
  }
};

test('random bytes and strings to the note, checkpoint, key and proof parsers only ever yield a CoreError', () => {
  const key = parseVerifierKey('PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW');
  const noteish = fc
    .array(
      fc.constantFrom('\n', '\n\n', '\u2014 ', 'PeterNeumann', ' ', 'AAAA', 'x08go/ZJ', '=', '+', '0', '8'),
      {
        maxLength: 30,
      },
    )
    .map((parts) => parts.join(''));
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), fc.string(), noteish, (bytes, str, n) => {
      isCoreError(() => parseNote(bytes));
      isCoreError(() => parseNote(str));
      isCoreError(() => parseNote(n));
      isCoreError(() => parseCheckpoint(str));
      isCoreError(() => parseCheckpoint(n));
      isCoreError(() => parseVerifierKey(str));
      for (const input of [bytes, str, n]) assert.equal(openCheckpoint(input, [key]).ok, false);
    }),
    { numRuns: 1000 },
  );
  fc.assert(
    fc.property(fc.jsonValue(), (value) => {
      isCoreError(() => decodeInclusionProof(value));
      isCoreError(() => decodeConsistencyProof(value));
    }),
    { numRuns: 500 },
  );
});

test('checkpoints round-trip: sign, open, format, parse', async () => {
  const priv = createPrivateKey({
    key: Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), Buffer.alloc(32, 7)]),
    format: 'der',
    type: 'pkcs8',
  });
  const pub = ed25519Raw(createPublicKey(priv));
  const signer = ed25519NoteSigner('log.example/a', pub, (m) => new Uint8Array(sign(null, m, priv)));
  const verifier = ed25519NoteVerifier('log.example/a', pub);
  const line = fc
    .string({ minLength: 1, maxLength: 20 })
    .filter((s) => !/[\u0000-\u001f]/.test(s) && s.isWellFormed());
  await fc.assert(
    fc.asyncProperty(
      line,
      fc.nat({ max: Number.MAX_SAFE_INTEGER }),
      fc.uint8Array({ minLength: 32, maxLength: 32 }),
      fc.array(line, { maxLength: 3 }),
      async (origin, size, root, extensions) => {
        const note = await signCheckpoint({ origin, size, root, extensions }, [signer]);
        const r = openCheckpoint(utf8(note), [verifier], origin);
        assert.ok(r.ok, r.ok ? '' : r.detail);
        assert.deepEqual(r.checkpoint, { origin, size, root, extensions });
      },
    ),
    { numRuns: 100 },
  );
});
