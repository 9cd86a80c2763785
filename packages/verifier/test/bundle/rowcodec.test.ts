// The archive's row text (bundle/rowcodec.ts): rows whose members repeated in a boot are written
// by reference give back exactly what the rows written before (whole JSON) gave, both kinds read
// in one boot, a damaged row is a named failure (ARCHIVE_ROW_INVALID), never a crash or a wrong
// value; and BundleArchive.record keeps one boot while the agent's log goes on.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import fc from 'fast-check';
import { closers } from '../../../../test/fixtures/cleanup.ts';
import type { Evidence } from '../../src/appraise/evidence.ts';
import type { AgentAttest } from '../../src/attest/state.ts';
import { type ArchivedQuote, BundleArchive, joinedLogs } from '../../src/bundle/archive.ts';
import {
  ArchiveRowError,
  decodeRows,
  encodeRow,
  memberRef,
  SAME_MEMBERS,
} from '../../src/bundle/rowcodec.ts';
import { SqliteStore } from '../../src/store/sqlite.ts';
import { attestState } from '../attest/state-fixture.ts';

interface FixtureRow {
  n: number;
  boot: number;
  resetCount: number;
  seqEnd: number;
  quote: string;
}
const FIXTURE = JSON.parse(readFileSync(new URL('./vectors/archive-v0.json', import.meta.url), 'utf8')) as {
  agent: string;
  rows: FixtureRow[];
};

/** The refs a writer that wrote `q` last keeps (BundleArchive.record). */
const refsOf = (q: ArchivedQuote) => new Map(SAME_MEMBERS.map((m) => [m, memberRef(q[m])]));

/** Rows of one boot written by reference by a writer that starts remembering nothing. */
function asV1(quotes: readonly ArchivedQuote[]): string[] {
  return quotes.map((q, i) => encodeRow(q, i === 0 ? undefined : refsOf(quotes[i - 1]!)).text);
}
const REF = /\{"=":"[A-Za-z0-9_-]{16}"\}/;

async function storeWith(t: Parameters<typeof closers>[0], texts: readonly string[]): Promise<SqliteStore> {
  const c = closers(t);
  const dir = await c.dir('tmb-rowcodec-');
  const store = new SqliteStore(join(dir, 'v.db'));
  c.add(() => store.close(), 'store');
  for (const [i, r] of FIXTURE.rows.entries())
    await store.appendArchived(
      FIXTURE.agent,
      { resetCount: r.resetCount, seqEnd: r.seqEnd, fresh: i === 0, quote: texts[i]! },
      16,
    );
  return store;
}

/** What a bundle of every seq the rows cover is built from: the judging quotes and joined logs. */
async function served(store: SqliteStore): Promise<string[]> {
  const archive = new BundleArchive(store);
  const out: string[] = [];
  for (let seq = 0; seq < FIXTURE.rows.at(-1)!.seqEnd; seq++) {
    const quotes = await archive.judging(FIXTURE.agent, seq);
    assert.ok(quotes !== null, `seq ${seq} has a bundle`);
    const logs = joinedLogs(quotes);
    out.push(
      JSON.stringify({
        quotes,
        app: [...logs.app],
        kernel: [...(logs.kernel ?? [])],
        boot: logs.boot?.length,
      }),
    );
  }
  return out;
}

test('bundles of the stored fixture (rows written whole) read the same from rows by reference, in fewer bytes', async (t) => {
  const v0 = FIXTURE.rows.map((r) => r.quote);
  const before = await served(await storeWith(t, v0));
  const v1 = asV1(v0.map((s) => JSON.parse(s) as ArchivedQuote));
  assert.ok(v1.slice(1).every((s) => REF.test(s)) && !REF.test(v1[0]!));
  const after = await served(await storeWith(t, v1));
  assert.deepEqual(after, before);
  const bytes = (a: string[]) => a.slice(1).reduce((s, x) => s + x.length, 0);
  // Rows after a boot's first: the AK, EK, certificate and TPM key are references.
  assert.ok(bytes(v1) * 1.5 < bytes(v0), `by reference ${bytes(v1)} B vs whole ${bytes(v0)} B`);
});

test('a boot whose first rows were written whole and later ones by reference reads the same', async (t) => {
  const v0 = FIXTURE.rows.map((r) => r.quote);
  const quotes = v0.map((s) => JSON.parse(s) as ArchivedQuote);
  // A verifier upgraded mid-boot: its first row of the agent is whole, then by reference.
  const mixed = [...v0.slice(0, 3), ...asV1(quotes.slice(3))];
  assert.deepEqual(await served(await storeWith(t, mixed)), await served(await storeWith(t, v0)));
});

test('a damaged row is ARCHIVE_ROW_INVALID, never a crash or another value', async (t) => {
  const quotes = FIXTURE.rows.map((r) => JSON.parse(r.quote) as ArchivedQuote);
  const v1 = asV1(quotes);
  const ref2 = v1[2]!.match(REF)![0];
  const damaged = [
    v1[2]!.replace(ref2, `{"=":"${'A'.repeat(16)}"}`),
    v1[2]!.replace(ref2, '{"=":1}'),
    v1[2]!.slice(0, -7),
    'z9:AAAA',
    '',
    '[1,2]',
    'null',
  ];
  for (const bad of damaged) {
    const texts = [...v1.slice(0, 2), bad, ...v1.slice(3)];
    let out: unknown;
    try {
      out = decodeRows(texts);
    } catch (err) {
      assert.ok(err instanceof ArchiveRowError, String(err));
      assert.equal(err.code, 'ARCHIVE_ROW_INVALID');
      continue;
    }
    // Read without a reference: only where the damaged member was written out as it is.
    assert.notEqual(JSON.stringify(out), JSON.stringify(quotes), 'damage that changes nothing');
  }
  // A reference no earlier row of the boot resolves (its boot's first row missing).
  assert.throws(() => decodeRows(v1.slice(1)), {
    code: 'ARCHIVE_ROW_INVALID',
    message: /refers to no earlier/,
  });
  // Through the archive: judging names it; covering (folded runs) answers nothing, no throw.
  const store = await storeWith(t, [...v1.slice(0, 2), damaged[0]!, ...v1.slice(3)]);
  const archive = new BundleArchive(store);
  const seq = FIXTURE.rows[3]!.seqEnd - 1;
  await assert.rejects(archive.judging(FIXTURE.agent, seq), { code: 'ARCHIVE_ROW_INVALID' });
  assert.deepEqual(await archive.covering(FIXTURE.agent, seq), { quote: null, whole: false });
});

const b64 = fc.uint8Array({ maxLength: 64 }).map((b) => Buffer.from(b).toString('base64url'));
// Values long enough to be referenced (> 32 characters of JSON), and short ones.
const member = fc.constantFrom('a'.repeat(40), 'b'.repeat(60), 'c', null);
const row = fc.record({
  size: fc.nat(1000),
  run: fc.option(fc.nat(5), { nil: undefined }),
  resetCount: fc.nat(3),
  note: fc.string(),
  nonce: b64,
  quote: fc.record({ attest: b64, signature: b64, pcrs: b64 }),
  quoted: fc.record({ telemetryTool: fc.option(fc.string()), upstream: fc.jsonValue() }),
  checkpointKey: member,
  tpmKey: fc.option(fc.record({ type: fc.constant('tpm-p256'), public: member })),
  previous: fc.constant(null),
  pcr: fc.nat(23),
  akPublic: member,
  ekPublic: member,
  ekCertificate: member,
  app: b64,
  kernel: fc.option(b64),
  boot: member,
});

test('property: random rows round-trip, references or not', () => {
  fc.assert(
    fc.property(
      fc.array(row, { minLength: 1, maxLength: 8 }),
      fc.array(fc.boolean(), { minLength: 8, maxLength: 8 }),
      (rows, use) => {
        const quotes = rows.map((r) => JSON.parse(JSON.stringify(r)) as ArchivedQuote);
        // A writer remembers any earlier row's values (rows written by another process between).
        const texts = quotes.map(
          (q, i) => encodeRow(q, i > 0 && use[i] ? refsOf(quotes[i - 1]!) : undefined).text,
        );
        assert.equal(JSON.stringify(decodeRows(texts)), JSON.stringify(quotes));
      },
    ),
  );
});

test('property: any text decodes or is ARCHIVE_ROW_INVALID', () => {
  fc.assert(
    fc.property(fc.array(fc.oneof(fc.string(), fc.json()), { minLength: 1, maxLength: 4 }), (texts) => {
      try {
        decodeRows(texts);
      } catch (err) {
        assert.ok(err instanceof ArchiveRowError, String(err));
      }
    }),
  );
});

test('record keeps one boot while the agent log goes on from an empty one (nextIndex 0); after forget it writes whole', async (t) => {
  const c = closers(t);
  const dir = await c.dir('tmb-rowcodec-rec-');
  const store = new SqliteStore(join(dir, 'v.db'));
  c.add(() => store.close(), 'store');
  const archive = new BundleArchive(store);
  const ima = { resetCount: 2, nextIndex: 0 } as unknown as AgentAttest['ima'];
  const cp = (size: number) => ({ note: 'n', size, root: '', keyId: '' });
  const ev = {
    log: new Uint8Array(0),
    logFrom: 0,
    kernel: null,
    boot: null,
    note: 'n',
    nonce: '00',
    attest: new Uint8Array(1),
    signature: new Uint8Array(1),
    pcrs: new Uint8Array(1),
    telemetryTool: null,
    consistency: null,
  } as unknown as Evidence;
  const key = new Uint8Array(32);
  let before = attestState();
  for (let size = 1; size <= 3; size++) {
    const after = attestState({ ima, checkpoint: cp(size) as AgentAttest['checkpoint'] });
    await archive.record('a', ev, before, after, key, size > 1 ? key : null);
    before = after;
  }
  const rows = await store.archivedFor('a', 2);
  assert.deepEqual(
    rows.map((r) => [r.n, r.boot]),
    [
      [0, 0],
      [1, 0],
      [2, 0],
    ],
  );
  assert.ok(rows.slice(1).every((r) => REF.test(r.quote)));
  // After a failed appraisal (its row perhaps rolled back with it) the next row names nothing
  // by reference: it reads alone.
  archive.forget('a');
  const after4 = attestState({ ima, checkpoint: cp(4) as AgentAttest['checkpoint'] });
  await archive.record('a', ev, before, after4, key, key);
  const fourth = (await store.archivedFor('a', 3)).at(-1)!;
  assert.equal(fourth.n, 3);
  assert.ok(!REF.test(fourth.quote), 'written whole after forget');
  assert.equal(decodeRows([fourth.quote])[0]!.size, 4);
  const quotes = await archive.judging('a', 2);
  assert.deepEqual(
    quotes?.map((q) => [q.size, q.akPublic, q.checkpointKey]),
    [1, 2, 3].map((s) => [s, 'ak', Buffer.from(key).toString('base64url')]),
  );
});
