import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ParseError } from '@tmb/core';
import {
  buildEntry,
  type EntryFields,
  encodeBinaryLog,
  formatAsciiLog,
  parseAsciiLog,
  parseBinaryLog,
  parseLog,
  replay,
} from '@tmb/core/ima';
import fc from 'fast-check';
import { generateBinary, generateFields } from '../../../../scripts/ima-gen.ts';

const onlyParseErrors = (f: () => unknown) => {
  try {
    f();
  } catch (err) {
    if (!(err instanceof ParseError)) throw err;
  }
};

test('random bytes only ever parse or throw ParseError (binary and ASCII)', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 400 }), (bytes) => {
      onlyParseErrors(() => parseBinaryLog(bytes));
      onlyParseErrors(() => parseAsciiLog(bytes));
    }),
    { numRuns: 2000 },
  );
});

const base = generateBinary({ entries: 40, seed: 9 });

test('mutated logs (flipped, inserted and deleted bytes) only parse or throw ParseError, and replay never throws', () => {
  fc.assert(
    fc.property(
      fc.array(
        fc.tuple(fc.nat(base.length - 1), fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 2 })),
        {
          minLength: 1,
          maxLength: 6,
        },
      ),
      (edits) => {
        const b = Array.from(base);
        for (const [at, v, kind] of edits) {
          const i = at % Math.max(1, b.length);
          if (kind === 0) b[i] = v;
          else if (kind === 1) b.splice(i, 0, v);
          else b.splice(i, 1);
        }
        const bytes = Uint8Array.from(b);
        try {
          const { entries } = parseLog(bytes);
          replay(entries, { bank: 'sha1' });
        } catch (err) {
          if (!(err instanceof ParseError)) throw err;
        }
      },
    ),
    { numRuns: 1500 },
  );
});

test('truncating a log anywhere inside an entry throws ParseError naming that entry', () => {
  const entries = parseBinaryLog(base);
  fc.assert(
    fc.property(fc.integer({ min: 1, max: base.length - 1 }), (cut) => {
      const inside = entries.findLast((e) => e.offset < cut)!;
      const next = entries[inside.index + 1];
      if (next !== undefined && next.offset === cut) return; // cut between two entries: a valid shorter log
      assert.throws(
        () => parseBinaryLog(base.subarray(0, cut)),
        (err: unknown) => {
          return (
            err instanceof ParseError &&
            (err as ParseError & { entryIndex: number }).entryIndex === inside.index
          );
        },
      );
    }),
    { numRuns: 500 },
  );
});

const pathChar = fc.constantFrom(
  ...'abcdefghijklmnopqrstuvwxyz0123456789._-/'.split(''),
  'é',
  'λ',
  '模',
  '😀',
);
const fieldsArb: fc.Arbitrary<EntryFields> = fc
  .record({
    template: fc.constantFrom('ima', 'ima-ng', 'ima-sig', 'ima-buf' as const),
    digestAlg: fc.constantFrom('sha1', 'sha256', 'sha384', 'sha512' as const),
    path: fc.array(pathChar, { minLength: 1, maxLength: 60 }).map((cs) => `/${cs.join('')}`),
    extra: fc.uint8Array({ maxLength: 40 }),
    violation: fc.boolean(),
    pcr: fc.constantFrom(10, 10, 10, 11),
    seed: fc.integer({ min: 0, max: 255 }),
  })
  .map(({ template, digestAlg, path, extra, violation, pcr, seed }) => {
    const alg = template === 'ima' ? 'sha1' : digestAlg;
    const size = { sha1: 20, sha256: 32, sha384: 48, sha512: 64 }[alg];
    return { template, digestAlg: alg, path, extra, violation, pcr, digest: new Uint8Array(size).fill(seed) };
  });

test('round trip: built entries -> binary -> parse -> ASCII -> parse keep every field and replay alike', () => {
  fc.assert(
    fc.property(fc.array(fieldsArb, { maxLength: 12 }), (fields) => {
      const built = fields.map((f, i) => buildEntry(f, i));
      const bin = encodeBinaryLog(built);
      const fromBin = parseBinaryLog(bin);
      const fromAscii = parseAsciiLog(new TextEncoder().encode(formatAsciiLog(fromBin)));
      const view = (es: typeof built) =>
        es.map((e) => [
          e.index,
          e.pcr,
          e.template,
          e.digestAlg,
          e.digest,
          e.path,
          e.violation,
          e.extra && [...e.extra],
        ]);
      assert.deepEqual(view(fromBin), view(built));
      assert.deepEqual(view(fromAscii), view(built));
      assert.deepEqual(encodeBinaryLog(fromAscii), bin);
      for (const bank of ['sha1', 'sha256'] as const) {
        assert.deepEqual(replay(fromAscii, { bank }).pcr, replay(built, { bank }).pcr);
      }
    }),
    { numRuns: 300 },
  );
});

test("round trip: the generator's fields come back from its binary log, for any seed", () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 2 ** 31 }), fc.integer({ min: 1, max: 60 }), (seed, n) => {
      const fields = [...generateFields({ entries: n, seed })];
      const parsed = parseBinaryLog(generateBinary({ entries: n, seed }));
      assert.equal(parsed.length, n);
      parsed.forEach((e, i) => {
        const f = fields[i]!;
        assert.equal(e.path, f.path);
        assert.equal(e.template, f.template ?? 'ima-ng');
        assert.equal(e.digest, Buffer.from(f.digest).toString('hex'));
        assert.equal(e.violation, f.violation === true);
      });
      assert.equal(replay(parsed, { bank: 'sha1' }).templateHashMismatches.length, 0);
    }),
    { numRuns: 60 },
  );
});
