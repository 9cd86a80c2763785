import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ParseError } from '@tmb/core';
import {
  appraise,
  appraiseColumns,
  columnsOf,
  compilePolicy,
  createPolicy,
  formatAsciiLog,
  type ImaEntry,
  parseAsciiLog,
  parseBinaryColumns,
  parseBinaryLog,
  parseLog,
  parseLogColumns,
  type ReplayResult,
  replay,
  replayColumns,
} from '@tmb/core/ima';
import fc from 'fast-check';
import { generateBinary } from '../../../../scripts/ima-gen.ts';

// The columnar path (parseBinaryColumns / parseLogColumns, replayColumns, appraiseColumns) must
// agree with the object path (ImaEntry arrays, replay, appraise) on every log: same fields, same
// replayed PCR and counts, same template hash mismatches, same appraisal failures.

const view = (es: readonly ImaEntry[]) =>
  es.map((e) => [
    e.index,
    e.offset,
    e.pcr,
    e.template,
    e.digestAlg,
    e.digest,
    e.path,
    e.violation,
    [...e.templateHash],
    [...e.templateData],
    e.extra && [...e.extra],
  ]);

const replayView = (r: ReplayResult) => ({
  ...r,
  templateHashMismatches: r.templateHashMismatches.map((e) => [e.index, e.offset]),
});

/** A generated log of PCR 10 entries then PCR 11 ones, with some template hashes altered. */
const logArb = fc
  .record({
    seed: fc.integer({ min: 1, max: 2 ** 31 }),
    n: fc.integer({ min: 0, max: 80 }),
    m: fc.integer({ min: 0, max: 5 }),
    templates: fc.constantFrom('mixed', 'ima-ng' as const),
    violations: fc.constantFrom(0, 0.05, 0.3),
    altered: fc.array(fc.tuple(fc.nat(), fc.nat(19), fc.integer({ min: 1, max: 255 })), { maxLength: 4 }),
  })
  .map(({ seed, n, m, templates, violations, altered }) => {
    const a = generateBinary({ entries: n, seed, templates, violations });
    const b = generateBinary({ entries: m, seed: seed + 1, templates, violations, pcr: 11 });
    const bytes = new Uint8Array(a.length + b.length);
    bytes.set(a, 0);
    bytes.set(b, a.length);
    const entries = parseBinaryLog(bytes);
    for (const [which, byte, xor] of altered) {
      const e = entries[which % Math.max(1, entries.length)];
      if (e !== undefined) bytes[e.offset + 4 + byte]! ^= xor;
    }
    return bytes;
  });

test('columns hold the same entries as the object parsers (binary, and ASCII through parseLogColumns)', () => {
  fc.assert(
    fc.property(logArb, fc.nat(1000), (bytes, first) => {
      const objects = parseBinaryLog(bytes, { firstIndex: first });
      const cols = parseBinaryColumns(bytes, { firstIndex: first });
      assert.equal(cols.length, objects.length);
      assert.deepEqual(view(cols.entries()), view(objects));
      objects.forEach((e, i) => {
        assert.equal(cols.path(i), e.path);
        assert.equal(cols.digest(i), e.digest);
      });
      const ascii = new TextEncoder().encode(formatAsciiLog(objects));
      const fromAscii = parseLogColumns(ascii, { firstIndex: first });
      assert.equal(fromAscii.form, objects.length === 0 ? 'binary' : 'ascii'); // empty: either
      assert.deepEqual(
        view(fromAscii.columns.entries()),
        view(parseLog(ascii, { firstIndex: first }).entries),
      );
    }),
    { numRuns: 150 },
  );
});

test('replayColumns and replay agree: value, counts, template hash mismatches, matched prefix', () => {
  fc.assert(
    fc.property(
      logArb,
      fc.constantFrom('sha1', 'sha256' as const),
      fc.boolean(),
      fc.nat(),
      (bytes, bank, checkTemplateHash, cut) => {
        const entries = parseBinaryLog(bytes);
        const cols = parseBinaryColumns(bytes);
        // Quote the value after some prefix, so that matchedAfter is exercised.
        const quoted = replay(entries.slice(0, cut % (entries.length + 1)), { bank }).pcr;
        for (const pcrIndex of [10, 11]) {
          const options = { bank, pcrIndex, checkTemplateHash, quoted };
          assert.deepEqual(replayView(replayColumns(cols, options)), replayView(replay(entries, options)));
        }
        // The ASCII form's entries (rebuilt bytes, parsed by a separate parser) fold alike.
        const ascii = parseAsciiLog(new TextEncoder().encode(formatAsciiLog(entries)));
        assert.deepEqual(
          replayView(replayColumns(columnsOf(ascii), { bank, checkTemplateHash })),
          replayView(replay(ascii, { bank, checkTemplateHash })),
        );
      },
    ),
    { numRuns: 150 },
  );
});

test('appraiseColumns and appraise agree: same failures, codes, details, excluded and passed counts', () => {
  fc.assert(
    fc.property(
      logArb,
      fc.nat(),
      fc.constantFrom(2, 3, 7),
      fc.boolean(),
      fc.constantFrom(10, 11, null),
      (bytes, seed, every, allowViolations, pcrIndex) => {
        const entries = parseBinaryLog(bytes);
        const cols = parseBinaryColumns(bytes);
        const policy = createPolicy(entries);
        // Take out some paths and replace some digests, so that every failure code can come up.
        Object.keys(policy.digests).forEach((k, i) => {
          if ((i + seed) % every === 0) delete policy.digests[k];
          else if ((i + seed) % every === 1) policy.digests[k] = ['00'.repeat(32)];
        });
        Object.keys(policy['ima-buf']).forEach((k, i) => {
          if ((i + seed) % every === 0) delete policy['ima-buf'][k];
        });
        Object.keys(policy.keyrings).forEach((k, i) => {
          if ((i + seed) % every === 0) policy.keyrings[k] = ['11'.repeat(32)];
        });
        policy.excludes = seed % 2 === 0 ? ['/tmp/.*', '/var/log/'] : [];
        const compiled = compilePolicy(policy);
        const options = { allowViolations, pcrIndex };
        const a = appraise(entries, compiled, options);
        assert.deepEqual(appraiseColumns(cols, compiled, options), a);
        const ascii = parseAsciiLog(new TextEncoder().encode(formatAsciiLog(entries)));
        assert.deepEqual(
          appraiseColumns(columnsOf(ascii), compiled, options),
          appraise(ascii, compiled, options),
        );
      },
    ),
    { numRuns: 150 },
  );
});

test('mutated logs: parseBinaryColumns throws exactly when parseBinaryLog does, with the same code, index and offset', () => {
  const base = generateBinary({ entries: 30, seed: 5 });
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.nat(base.length - 1), fc.integer({ min: 0, max: 255 })), {
        minLength: 1,
        maxLength: 5,
      }),
      fc.nat(base.length),
      (edits, cut) => {
        const bytes = base.slice(0, Math.max(1, cut));
        for (const [at, v] of edits) bytes[at % bytes.length] = v;
        const outcome = (f: () => unknown) => {
          try {
            f();
            return 'ok';
          } catch (err) {
            if (!(err instanceof ParseError)) throw err;
            const e = err as ParseError & { entryIndex: number };
            return `${e.code} #${e.entryIndex} @${e.offset}`;
          }
        };
        const cols = outcome(() => replayColumns(parseBinaryColumns(bytes), { bank: 'sha1' }));
        assert.equal(
          cols,
          outcome(() => replay(parseBinaryLog(bytes), { bank: 'sha1' })),
        );
      },
    ),
    { numRuns: 800 },
  );
});

test('columns of an empty log, and views: entry(i) is the object parser entry i', () => {
  const empty = parseBinaryColumns(new Uint8Array(0), { firstIndex: 7 });
  assert.equal(empty.length, 0);
  assert.equal(empty.firstIndex, 7);
  assert.deepEqual(replayColumns(empty).pcr, replay([]).pcr);
  const bytes = generateBinary({ entries: 5, seed: 3, templates: 'mixed' });
  const cols = parseBinaryColumns(bytes, { firstIndex: 100 });
  const e = cols.entry(4);
  assert.equal(e.index, 104);
  assert.deepEqual(view([e]), view([parseBinaryLog(bytes, { firstIndex: 100 })[4]!]));
});
