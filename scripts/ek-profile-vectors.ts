/**
 * Regenerates packages/core/test/vectors/tpm/profile/ with openssl:
 *   node_modules/.bin/node scripts/ek-profile-vectors.ts
 * A test CA ("TMB Test TPM Vendor Root", which tests configure as a hardware root or as a
 * development root) issues EK certificates for the swtpm EK of ../ek-rsa.pub, one per case:
 * the TCG EK profile met, and each way of breaking it. Validity: 100 years from the run.
 */
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseTpm2bPublic, publicKeyOf } from '@tmb/core/tpm';

const out = new URL('../packages/core/test/vectors/tpm/profile/', import.meta.url).pathname;
const tmp = await mkdtemp(join(tmpdir(), 'tmb-ek-profile-'));
const ssl = (...args: string[]) =>
  execFileSync('openssl', args, { cwd: tmp, stdio: ['ignore', 'pipe', 'pipe'] });

// openssl reads no oid_section from an -extfile: the TCG OIDs go in dotted form, behind an
// "N." prefix that openssl drops from a name section's field names.
const dn = (m: string | null, model: string | null, v: string | null) =>
  [m && `1.2.23.133.2.1 = ${m}`, model && `2.2.23.133.2.2 = ${model}`, v && `3.2.23.133.2.3 = ${v}`]
    .filter(Boolean)
    .join('\n');
const FULL = dn('id:49465800', 'SLB9670', 'id:00070055');
const EKU = 'extendedKeyUsage = 2.23.133.8.1';
const KU = 'keyUsage = critical, keyEncipherment';
const BC = 'basicConstraints = critical, CA:FALSE';
const SAN = 'subjectAltName = critical, dirName:tpm_dn';

/** Each case: its extensions, and the SAN directoryName attributes. */
const CASES: Record<string, { ext: string[]; names?: string }> = {
  good: { ext: [EKU, SAN, KU, BC], names: FULL },
  'no-eku-ku': { ext: [SAN, BC], names: FULL },
  'unknown-vendor': { ext: [EKU, SAN, KU, BC], names: dn('id:58595A00', 'X1', 'id:00010002') },
  'eku-wrong': { ext: ['extendedKeyUsage = serverAuth', SAN, KU, BC], names: FULL },
  'no-san': { ext: [EKU, KU, BC] },
  'san-partial': { ext: [EKU, SAN, KU, BC], names: dn('id:49465800', null, null) },
  'ku-wrong': { ext: [EKU, SAN, 'keyUsage = critical, digitalSignature', BC], names: FULL },
  'is-ca': { ext: [EKU, SAN, KU, 'basicConstraints = critical, CA:TRUE'], names: FULL },
};

try {
  const ek = parseTpm2bPublic(new Uint8Array(await readFile(join(out, '../ek-rsa.pub'))));
  await writeFile(join(tmp, 'ek.pem'), publicKeyOf(ek).export({ type: 'spki', format: 'pem' }) as string);
  ssl(
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    'ca.key',
    '-out',
    'ca.pem',
    '-days',
    '36500',
    '-subj',
    '/O=TMB Test/CN=TMB Test TPM Vendor Root',
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  );
  ssl(
    'req',
    '-new',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    'dummy.key',
    '-out',
    'dummy.csr',
    '-subj',
    '/CN=x',
  );
  for (const [name, c] of Object.entries(CASES)) {
    const conf = `[ext]\n${c.ext.join('\n')}\n${c.names ? `[tpm_dn]\n${c.names}\n` : ''}`;
    await writeFile(join(tmp, `${name}.cnf`), conf);
    ssl(
      'x509',
      '-req',
      '-in',
      'dummy.csr',
      '-CA',
      'ca.pem',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-force_pubkey',
      'ek.pem',
      '-days',
      '36500',
      '-subj',
      '/',
      '-extfile',
      `${name}.cnf`,
      '-extensions',
      'ext',
      '-outform',
      'DER',
      '-out',
      join(out, `${name}.der`),
    );
  }
  await writeFile(join(out, 'ca.pem'), await readFile(join(tmp, 'ca.pem')));
} finally {
  await rm(tmp, { recursive: true, force: true });
}
