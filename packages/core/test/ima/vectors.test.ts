import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { toHex } from '@tmb/core';
import { parseLog, parseLogColumns, replay, replayColumns } from '@tmb/core/ima';

// Vectors and how they were made: ../vectors/ima/README.md.
const dir = new URL('../vectors/ima/', import.meta.url);
const expected = JSON.parse(readFileSync(new URL('expected.json', dir), 'utf8'));

for (const name of ['mixed-200.bin', 'mixed-200.txt']) {
  test(`${name} replays to the independently computed sha1 and sha256 PCR 10 values`, () => {
    const { entries } = parseLog(new Uint8Array(readFileSync(new URL(name, dir))));
    assert.equal(entries.length, expected.entries);
    for (const bank of ['sha1', 'sha256'] as const) {
      const r = replay(entries, { bank, checkTemplateHash: true });
      assert.equal(toHex(r.pcr), expected[bank]);
      assert.equal(r.templateHashMismatches.length, 0);
    }
  });
}

for (const name of ['mixed-200.bin', 'mixed-200.txt']) {
  test(`${name} through the columns (parseLogColumns, replayColumns) replays to the same known values`, () => {
    const { columns } = parseLogColumns(new Uint8Array(readFileSync(new URL(name, dir))));
    assert.equal(columns.length, expected.entries);
    for (const bank of ['sha1', 'sha256'] as const) {
      const r = replayColumns(columns, { bank, checkTemplateHash: true });
      assert.equal(toHex(r.pcr), expected[bank]);
      assert.equal(r.templateHashMismatches.length, 0);
    }
  });
}
