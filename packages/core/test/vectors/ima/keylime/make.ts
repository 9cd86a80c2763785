/**
 * Derives the per-bank vectors in this folder from Keylime's own lines:
 * `node_modules/.bin/node packages/core/test/vectors/ima/keylime/make.ts`.
 *
 * `measurements.txt` is Keylime's ascii_runtime_measurements (SHA-1 template hashes). The
 * kernel's per-bank lists (Linux 6.10 on) carry the same lines with each template hash
 * replaced by that bank's digest of the same template data, so `measurements_sha256.txt` and
 * `measurements_sha256.bin` are built here that way, with template bytes rebuilt as Keylime
 * does (keylime/ima/ast.py, mode.bytes()), independently of packages/core/src/ima.
 */
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';

const here = import.meta.dirname;
const u32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
};
const field = (b: Buffer) => Buffer.concat([u32(b.length), b]);

/** Template data of an ima-ng / ima-sig / ima-buf line's fields (after the template name). */
function templateData(template: string, fields: string): Buffer {
  const [d, name, extra] = fields.split(' ', 3) as [string, string, string | undefined];
  const [alg, hex] = d.split(':') as [string, string];
  const parts = [
    field(Buffer.concat([Buffer.from(`${alg}:\0`, 'latin1'), Buffer.from(hex, 'hex')])),
    field(Buffer.concat([Buffer.from(name, 'utf8'), Buffer.of(0)])),
  ];
  if (template !== 'ima-ng') parts.push(field(Buffer.from(extra ?? '', 'hex')));
  return Buffer.concat(parts);
}

const lines = readFileSync(`${here}/measurements.txt`, 'utf8').split('\n').filter((l) => l !== '');
const ascii: string[] = [];
const binary: Buffer[] = [];
for (const line of lines) {
  const [pcr, , template, ...rest] = line.split(' ') as [string, string, string, ...string[]];
  const data = templateData(template, rest.join(' '));
  const th = createHash('sha256').update(data).digest();
  ascii.push(`${pcr} ${th.toString('hex')} ${template} ${rest.join(' ')}\n`);
  binary.push(u32(Number(pcr)), th, field(Buffer.from(template, 'latin1')), field(data));
}
writeFileSync(`${here}/measurements_sha256.txt`, ascii.join(''));
writeFileSync(`${here}/measurements_sha256.bin`, Buffer.concat(binary));
