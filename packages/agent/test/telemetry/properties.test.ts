import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  DEFAULT_NVSMI_QUERY,
  NVSMI_METRIC_FIELDS,
  NvSmiParser,
  parseDcgm,
  parseProcStat,
  parseProcStatus,
} from '@tmb/agent/telemetry';
import fc from 'fast-check';

const cell = fc.oneof(
  fc.string({ maxLength: 12 }),
  fc.constantFrom('[N/A]', '[Not Supported]', 'NaN', '-1', '1e9', '62.87 W', '100 %', ''),
  fc.double().map(String),
);
const csvLine = fc.oneof(
  fc.string({ maxLength: 200 }),
  fc.array(cell, { maxLength: 14 }).map((cs) => cs.join(', ')),
);

test('random nvidia-smi lines never throw, and every sample has only finite non-negative readings', () => {
  fc.assert(
    fc.property(fc.array(csvLine, { maxLength: 30 }), fc.boolean(), (ls, header) => {
      const p = new NvSmiParser(header ? {} : { fields: NVSMI_METRIC_FIELDS });
      for (const [i, l] of ls.entries()) {
        const s = p.line(l, 100 * i);
        if (s === undefined) continue;
        for (const [k, v] of Object.entries(s))
          if (typeof v === 'number' && k !== 'toolTime') assert.ok(Number.isFinite(v) && v >= 0, `${k}=${v}`);
      }
    }),
    { numRuns: 400 },
  );
});

test("random identity cells never throw; a kept name or uuid is always in the tool's form", () => {
  const idCell = fc.oneof(
    fc.string({ maxLength: 120 }),
    fc.string({ unit: 'binary', maxLength: 40 }),
    fc.constantFrom(
      '[N/A]',
      'GPU-',
      'MIG-x',
      'NVIDIA H100 80GB HBM3',
      'GPU-34319582-d595-d1c7-d1d2-179bcfa61660',
    ),
    fc.stringMatching(/^GPU-[0-9a-f-]{1,100}$/, { size: 'small' }),
  );
  fc.assert(
    fc.property(idCell, idCell, (uuid, name) => {
      const p = new NvSmiParser({ fields: DEFAULT_NVSMI_QUERY });
      const s = p.line(`2026/05/09 03:57:48.161, 0, ${uuid}, ${name}, 62.87, 1, 2, 3, 4, 5, 6, 7`, 0);
      if (s === undefined) return;
      if (s.uuid !== undefined) assert.match(s.uuid, /^(GPU|MIG)-[0-9A-Za-z-]{1,91}$/);
      if (s.name !== undefined) assert.match(s.name, /^[\x21-\x7e]([\x20-\x7e]{0,93}[\x21-\x7e])?$/);
    }),
    { numRuns: 200 },
  );
});

test('random text never throws in the other parsers', () => {
  const text = fc.oneof(
    fc.string({ maxLength: 300 }),
    fc.array(csvLine, { maxLength: 10 }).map((l) => l.join('\n')),
    fc
      .array(fc.tuple(fc.string({ maxLength: 10 }), fc.string({ maxLength: 10 }), cell), { maxLength: 10 })
      .map((ms) => ms.map(([n, l, v]) => `DCGM_FI_${n}{gpu="${l}"} ${v}`).join('\n')),
  );
  fc.assert(
    fc.property(text, (t) => {
      for (const s of parseDcgm(t, 0).samples)
        for (const v of [s.powerW, s.energyJ, s.utilGpu, s.memUsedMiB])
          if (v !== undefined) assert.ok(Number.isFinite(v) && v >= 0);
      parseProcStat(t);
      parseProcStatus(t);
    }),
    { numRuns: 400 },
  );
});
