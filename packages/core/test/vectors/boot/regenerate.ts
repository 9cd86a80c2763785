// Copies the TCG2 event-log fixtures of tpm2-tools into this folder and writes expected.json from
// the PCR values and event facts tpm2_eventlog printed for them (its YAML outputs). Reads a local
// checkout; run from the repository root:
//   node_modules/.bin/node packages/core/test/vectors/boot/regenerate.ts /path/to/tpm2-tools
// Only the binary logs and the extracted values are kept here; see README.md for source and licence.
import { copyFile, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

const LOGS = [
  'event-arch-linux.bin',
  'event-bootorder.bin',
  'event-gce-ubuntu-2104-log.bin',
  'event-moklisttrusted.bin',
  'event-postcode.bin',
  'event-sd-boot-fedora37.bin',
  'event.bin',
  'event-uefiservices.bin',
];
const REFUSED = ['event-uefi-sha1-log.bin', 'event-uefivar.bin', 'event-uefiaction.bin', 'specid-vendordata.bin'];

const root = process.argv[2];
if (root === undefined) throw new Error('usage: regenerate.ts <tpm2-tools checkout>');
const fixtures = join(root, 'test/integration/fixtures');
const here = new URL('.', import.meta.url).pathname;

/** The `pcrs:` block of tpm2_eventlog's YAML: bank -> PCR -> hex. */
function pcrsOf(yaml: string): Record<string, Record<string, string>> {
  const out: Record<string, Record<string, string>> = {};
  let bank = '';
  for (const line of (yaml.split('\npcrs:\n')[1] ?? '').split('\n')) {
    const b = /^ {2}(\w+):$/.exec(line);
    if (b) out[(bank = b[1]!)] = {};
    const p = /^ {4}(\d+)\s*: 0x([0-9a-f]+)$/.exec(line);
    if (p && bank) out[bank]![p[1]!] = p[2]!;
  }
  return out;
}

const expected: Record<string, unknown> = {};
for (const name of LOGS) {
  await copyFile(join(fixtures, name), join(here, name));
  const yaml = await readFile(join(fixtures, 'event-pretty', `${name}.yaml`), 'utf8').catch(() =>
    readFile(join(fixtures, `${name}.yaml`), 'utf8'),
  );
  const events = [...yaml.matchAll(/^- EventNum: (\d+)$/gm)].length - 1; // less the Spec ID event
  // tpm2_eventlog prints SecureBoot as `VariableData: "01"` or as `Enabled: 'Yes'`.
  const sb = /UnicodeName: SecureBoot\n\s+VariableData:(?: "(\w+)"|\n\s+Enabled: '(\w+)')/.exec(yaml);
  expected[name] = {
    events,
    secureBoot: sb === null ? null : sb[1] === '01' || sb[2] === 'Yes',
    pcrs: pcrsOf(yaml),
  };
}
for (const name of REFUSED) await copyFile(join(fixtures, name), join(here, name));
await writeFile(join(here, 'expected.json'), `${JSON.stringify(expected, null, 2)}\n`);
