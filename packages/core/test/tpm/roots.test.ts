import assert from 'node:assert/strict';
import { createHash, X509Certificate } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import { HARDWARE_EK_ROOTS } from '../../src/tpm/roots.ts';

// The shipped vendor EK CA list: the PEM files, the generated module and the README's table must
// say the same thing, and each entry must be a CA certificate (scripts/ek-roots.ts).

const dir = new URL('../../src/tpm/roots/', import.meta.url).pathname;
const files = readdirSync(dir)
  .filter((n) => n.endsWith('.pem'))
  .sort();
const readme = readFileSync(`${dir}README.md`, 'utf8');
const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

test('every shipped vendor certificate parses, is a CA, and is listed once with its fingerprint', () => {
  assert.ok(HARDWARE_EK_ROOTS.length >= 40, `only ${HARDWARE_EK_ROOTS.length} roots`);
  assert.deepEqual(HARDWARE_EK_ROOTS.map((r) => r.file).sort(), files);
  const seen = new Set<string>();
  for (const r of HARDWARE_EK_ROOTS) {
    const cert = new X509Certificate(r.pem);
    assert.ok(cert.ca, `${r.file} is not a CA`);
    const sha = createHash('sha256').update(cert.raw).digest('hex');
    assert.equal(sha, r.sha256, r.file);
    assert.ok(!seen.has(sha), `${r.file} twice`);
    seen.add(sha);
    assert.equal(readFileSync(`${dir}${r.file}`, 'utf8').trim(), r.pem, `${r.file} differs from the module`);
    const row = new RegExp(`\\| ${esc(r.file)} +\\| ${esc(r.vendor)} +\\|.*\`${sha}\``);
    assert.match(readme, row, `${r.file} not in README`);
  }
});

test("the shipped list holds each main TPM vendor's CAs and no cloud vTPM CA", () => {
  const vendors = new Set(HARDWARE_EK_ROOTS.map((r) => r.vendor.split(' ')[0]));
  for (const v of ['Infineon', 'STMicroelectronics', 'Nuvoton', 'Intel']) assert.ok(vendors.has(v), v);
  for (const r of HARDWARE_EK_ROOTS) assert.doesNotMatch(new X509Certificate(r.pem).subject, /vTPM|Aliyun/);
});
