/**
 * Regenerates the IMA vectors in this folder: `node packages/core/test/vectors/ima/make.ts`.
 * The logs come from scripts/ima-gen.ts (seeded, so the bytes never change); the expected PCR
 * values are computed here by a separate, Keylime-style replay over the ASCII text (rebuild each
 * entry's template bytes from its tokens, hash them per bank), not by the code under test.
 */
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { generateAscii, generateBinary } from '../../../../../scripts/ima-gen.ts';

const here = import.meta.dirname;
const options = { entries: 200, seed: 2024, violations: 0.02 };
const ascii = generateAscii(options);
writeFileSync(`${here}/mixed-200.bin`, generateBinary(options));
writeFileSync(`${here}/mixed-200.txt`, ascii);

const u32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
};
const field = (b: Buffer) => Buffer.concat([u32(b.length), b]);

/** Template bytes as keylime/ima/ast.py builds them (Entry -> mode.bytes()). */
function templateBytes(template: string, rest: string): Buffer {
  const [d, ...others] = rest.split(' ');
  if (template === 'ima') {
    const name = Buffer.alloc(256);
    name.write(others.join(' '));
    return Buffer.concat([Buffer.from(d!, 'hex'), name]);
  }
  const [alg, hex] = d!.split(':');
  const digest = field(Buffer.concat([Buffer.from(`${alg}:\0`), Buffer.from(hex!, 'hex')]));
  if (template === 'ima-ng') return Buffer.concat([digest, field(Buffer.from(`${others.join(' ')}\0`))]);
  const extra = others.pop()!;
  return Buffer.concat([digest, field(Buffer.from(`${others.join(' ')}\0`)), field(Buffer.from(extra, 'hex'))]);
}

const expected: Record<string, string | number> = { entries: 0 };
for (const bank of ['sha1', 'sha256']) {
  const size = bank === 'sha1' ? 20 : 32;
  let pcr = Buffer.alloc(size);
  let n = 0;
  for (const line of ascii.split('\n').filter((l) => l !== '')) {
    const [, th, template, ...rest] = line.replace(/^ /, '').split(' ');
    const d = /^0+$/.test(th!)
      ? Buffer.alloc(size, 0xff)
      : createHash(bank).update(templateBytes(template!, rest.join(' '))).digest();
    pcr = createHash(bank).update(pcr).update(d).digest();
    n++;
  }
  expected[bank] = pcr.toString('hex');
  expected.entries = n;
}
writeFileSync(`${here}/expected.json`, `${JSON.stringify(expected, null, 2)}\n`);
