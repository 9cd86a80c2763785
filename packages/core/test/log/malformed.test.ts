import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { fromHex, toBase64, utf8 } from '@tmb/core';
import {
  consistencyProof,
  decodeConsistencyProof,
  decodeInclusionProof,
  encodeConsistencyProof,
  encodeInclusionProof,
  inclusionProof,
  leafHash,
  MAX_NOTE_BYTES,
  MemoryTree,
  openCheckpoint,
  parseCheckpoint,
  parseNote,
  parseVerifierKey,
  verifyConsistency,
  verifyInclusion,
} from '@tmb/core/log';

const load = (name: string) =>
  JSON.parse(readFileSync(new URL(`../vectors/log/${name}`, import.meta.url), 'utf8'));
const cpv = load('checkpoint.json');
const key = parseVerifierKey(cpv.vkey);
const good: string = cpv.checkpoints[3].note; // size 8
const [goodText, goodSig] = good.split('\n\n') as [string, string];
const ROOT = 'XcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=';

const code = (r: { ok: boolean; code?: string }) => (r.ok ? 'ok' : r.code);
const opens = (note: string | Uint8Array) => code(openCheckpoint(note, [key], cpv.origin));

test('notes: framing errors are NOTE_MALFORMED', () => {
  const cases: Record<string, string> = {
    empty: '',
    'no blank line': goodText + goodSig,
    'no signature lines': `${goodText}\n\n`,
    'no final newline': good.slice(0, -1),
    'ascii dashes': good.replace('\u2014 ', '-- '),
    'no space after dash': good.replace('\u2014 ', '\u2014'),
    'no key name': good.replace(`\u2014 ${cpv.origin} `, '\u2014  '),
    'plus in key name': good.replace(`\u2014 ${cpv.origin}`, '\u2014 a+b'),
    'signature not base64': good.replace(/ [A-Za-z0-9+/]+=*\n$/, ' %%%%\n'),
    'signature non-canonical base64': good.replace(/.=\n$/, 'R=\n'),
    'signature shorter than key id + 1': good.replace(
      / [A-Za-z0-9+/]+=*\n$/,
      ` ${toBase64(new Uint8Array(4))}\n`,
    ),
    'tab in text': good.replace('\n8\n', '\n8\t\n'),
    'carriage return': good.replace('\n8\n', '\r\n8\n'),
    'NUL byte': good.replace('8', '\u0000'),
  };
  for (const [name, note] of Object.entries(cases)) {
    assert.throws(() => parseNote(note), { code: 'NOTE_MALFORMED' }, name);
    assert.equal(opens(note), 'NOTE_MALFORMED', name);
  }
  // The text ends at the LAST blank line (C2SP): a blank line among signatures moves lines into the text.
  assert.equal(opens(`${good}\n${goodSig}`), 'NOTE_SIGNATURE_INVALID');
  assert.throws(() => parseNote(new Uint8Array([0xff, 0x0a, 0x0a])), { code: 'NOTE_MALFORMED' });
  assert.throws(() => parseNote('a\n\n\u2014 k \ud800AAAAAAAA\n'), { code: 'NOTE_MALFORMED' });
});

test('notes: size and signature count are capped: NOTE_TOO_LARGE', () => {
  assert.throws(() => parseNote(new Uint8Array(MAX_NOTE_BYTES + 1)), { code: 'NOTE_TOO_LARGE' });
  assert.throws(() => parseNote(`${goodText}\n\n${goodSig.repeat(101)}`), { code: 'NOTE_TOO_LARGE' });
  assert.equal(opens(`${goodText}\n\n${goodSig.repeat(16)}`), 'ok', 'C2SP: at least 16 signatures accepted');
});

test('notes: signatures of unknown keys are ignored, a known key must sign', () => {
  const other = good.replace(`\u2014 ${cpv.origin}`, '\u2014 someone.else');
  assert.equal(opens(other), 'NOTE_NO_KNOWN_SIGNER', 'same id, other name');
  const sig = Buffer.from(goodSig.split(' ').at(-1)!.trim(), 'base64');
  sig[0]! ^= 1;
  const otherId = `${goodText}\n\n\u2014 ${cpv.origin} ${sig.toString('base64')}\n`;
  assert.equal(opens(otherId), 'NOTE_NO_KNOWN_SIGNER', 'same name, other key id');
  assert.equal(opens(`${good}${other.split('\n\n')[1]}`), 'ok', 'an unknown extra line is ignored');
  sig[0]! ^= 1;
  sig[10]! ^= 1;
  assert.equal(
    opens(`${goodText}\n\n\u2014 ${cpv.origin} ${sig.toString('base64')}\n`),
    'NOTE_SIGNATURE_INVALID',
  );
  const bad = `\u2014 ${cpv.origin} ${sig.toString('base64')}\n`;
  assert.equal(opens(`${good}${bad}`), 'NOTE_SIGNATURE_INVALID', 'one good and one bad line of the key');
});

test('notes: every flipped bit and every truncation of a checkpoint note fails', () => {
  const bytes = utf8(good);
  for (let i = 0; i < bytes.length; i++) {
    for (let bit = 0; bit < 8; bit++) {
      const t = bytes.slice();
      t[i]! ^= 1 << bit;
      assert.notEqual(opens(t), 'ok', `byte ${i} bit ${bit}`);
    }
  }
  for (let n = 0; n < bytes.length; n++) assert.notEqual(opens(bytes.subarray(0, n)), 'ok', `prefix ${n}`);
});

test('checkpoints: text errors are CHECKPOINT_MALFORMED, huge sizes INTEGER_OUT_OF_RANGE', () => {
  const malformed = [
    'o\n8\n',
    `o\n8\n${ROOT}`,
    `\n8\n${ROOT}\n`,
    `o\n\n${ROOT}\n`,
    `o\n8\n${ROOT}\n\next\n`,
    `o\n8\n${ROOT}\ne\u0007\n`,
    `o\n8\n${ROOT.slice(0, -1)}\n`,
    `o\n8\n${ROOT.replace('=', 'A')}\n`,
    `o\n8\n${toBase64(new Uint8Array(31))}\n`,
    `o\n8\n${toBase64(new Uint8Array(33))}\n`,
    `o\n8\n${fromHexB64()}\n`,
    ...['08', '00', '+8', '-8', ' 8', '8 ', '8.0', '0x8', '1e3', '８'].map((s) => `o\n${s}\n${ROOT}\n`),
  ];
  for (const text of malformed)
    assert.throws(() => parseCheckpoint(text), { code: 'CHECKPOINT_MALFORMED' }, text);
  for (const s of ['9007199254740992', '18446744073709551615', '1'.repeat(400)])
    assert.throws(() => parseCheckpoint(`o\n${s}\n${ROOT}\n`), { code: 'INTEGER_OUT_OF_RANGE' }, s);
  assert.equal(parseCheckpoint(`o\n9007199254740991\n${ROOT}\n`).size, 2 ** 53 - 1);
  assert.deepEqual(parseCheckpoint(`o\n0\n${ROOT}\nx\ny z\n`).extensions, ['x', 'y z']);
});

function fromHexB64(): string {
  return toBase64(fromHex('00'.repeat(32))).replace(/=$/, '');
}

test('checkpoints: origin mismatch and a signed non-checkpoint are named', () => {
  assert.equal(code(openCheckpoint(good, [key], 'another-agent')), 'CHECKPOINT_ORIGIN_MISMATCH');
  assert.equal(opens(good), 'ok');
});

test('verifier keys: every mangling is NOTE_KEY_MALFORMED (after Go sumdb/note TestNewVerifier)', () => {
  const vkey: string = load('note.json').vkey;
  const bad = (k: string) => assert.throws(() => parseVerifierKey(k), { code: 'NOTE_KEY_MALFORMED' }, k);
  for (let i = 0; i <= vkey.length; i++)
    for (let j = i + 1; j <= vkey.length; j++) if (i !== 0 || j !== vkey.length) bad(vkey.slice(i, j));
  for (let i = 0; i < vkey.length; i++)
    bad(vkey.slice(0, i) + String.fromCharCode(vkey.charCodeAt(i) + 1) + vkey.slice(i + 1));
  bad(vkey.replace('c74f20a3', 'C74F20A3'));
  bad(vkey.replace('+ARpc', '+Ahpc')); // algorithm byte 0x02
  bad(`Peter Neumann${vkey.slice('PeterNeumann'.length)}`);
});

const tree = new MemoryTree(Array.from({ length: 13 }, (_, i) => leafHash(new Uint8Array([i]))));
const inc = encodeInclusionProof(inclusionProof(tree, 5, 13));
const con = encodeConsistencyProof(consistencyProof(tree, 6, 13));

test('proof wire: shape errors are PROOF_MALFORMED, version PROOF_VERSION_UNSUPPORTED', () => {
  const cases: [unknown, string][] = [
    [null, 'PROOF_MALFORMED'],
    [[], 'PROOF_MALFORMED'],
    ['{}', 'PROOF_MALFORMED'],
    [{ ...inc, v: 2 }, 'PROOF_VERSION_UNSUPPORTED'],
    [{ ...inc, v: '1' }, 'PROOF_MALFORMED'],
    [{ ...inc, type: 'consistency' }, 'PROOF_MALFORMED'],
    [{ ...inc, extra: 1 }, 'PROOF_MALFORMED'],
    [{ v: 1, type: 'inclusion', index: 5, hashes: inc.hashes }, 'PROOF_MALFORMED'],
    [{ ...inc, index: '5' }, 'PROOF_MALFORMED'],
    [{ ...inc, index: -1 }, 'PROOF_MALFORMED'],
    [{ ...inc, index: 1.5 }, 'PROOF_MALFORMED'],
    [{ ...inc, size: 2 ** 53 }, 'PROOF_MALFORMED'],
    [{ ...inc, hashes: 'x' }, 'PROOF_MALFORMED'],
    [{ ...inc, hashes: [...inc.hashes.slice(1), 7] }, 'PROOF_MALFORMED'],
    [{ ...inc, hashes: [...inc.hashes.slice(1), toBase64(new Uint8Array(31))] }, 'PROOF_MALFORMED'],
    [{ ...inc, hashes: [...inc.hashes.slice(1), inc.hashes[0]!.replace('=', '')] }, 'PROOF_MALFORMED'],
    [{ ...inc, hashes: Array(65).fill(inc.hashes[0]) }, 'PROOF_MALFORMED'],
    [{ ...inc, index: 13 }, 'PROOF_RANGE_INVALID'],
    [{ ...inc, index: 14 }, 'PROOF_RANGE_INVALID'],
    [{ ...inc, hashes: inc.hashes.slice(1) }, 'PROOF_LENGTH_INVALID'],
    [{ ...inc, hashes: [...inc.hashes, inc.hashes[0]] }, 'PROOF_LENGTH_INVALID'],
  ];
  for (const [value, want] of cases)
    assert.throws(() => decodeInclusionProof(value), { code: want }, JSON.stringify(value));
  assert.throws(() => decodeConsistencyProof({ ...con, from: 14 }), { code: 'PROOF_RANGE_INVALID' });
  assert.throws(() => decodeConsistencyProof({ ...con, hashes: [] }), { code: 'PROOF_LENGTH_INVALID' });
  assert.throws(() => decodeConsistencyProof({ ...con, to: 6 }), { code: 'PROOF_LENGTH_INVALID' });
  assert.throws(() => decodeConsistencyProof(inc), { code: 'PROOF_MALFORMED' });
});

test('proof verification names each failure', () => {
  const p = inclusionProof(tree, 5, 13);
  const leaf = tree.node(0, 5);
  const root = tree.root();
  const v = (r: { ok: boolean; code?: string }) => (r.ok ? 'ok' : r.code);
  assert.equal(v(verifyInclusion(leaf, p, root)), 'ok');
  assert.equal(v(verifyInclusion(leaf, { ...p, index: 13 }, root)), 'PROOF_RANGE_INVALID');
  assert.equal(v(verifyInclusion(leaf, { ...p, hashes: p.hashes.slice(1) }, root)), 'PROOF_LENGTH_INVALID');
  assert.equal(v(verifyInclusion(leaf, { ...p, hashes: [...p.hashes, leaf] }, root)), 'PROOF_LENGTH_INVALID');
  assert.equal(v(verifyInclusion(tree.node(0, 4), p, root)), 'INCLUSION_PROOF_INVALID');
  assert.equal(v(verifyInclusion(leaf, p, tree.root(12))), 'INCLUSION_PROOF_INVALID');
  assert.equal(v(verifyInclusion(leaf.subarray(1), p, root)), 'PROOF_MALFORMED');
  const c = consistencyProof(tree, 6, 13);
  const r6 = tree.root(6);
  assert.equal(v(verifyConsistency(c, r6, root)), 'ok');
  assert.equal(v(verifyConsistency({ ...c, from: 14 }, r6, root)), 'PROOF_RANGE_INVALID');
  assert.equal(v(verifyConsistency({ ...c, hashes: c.hashes.slice(1) }, r6, root)), 'PROOF_LENGTH_INVALID');
  assert.equal(v(verifyConsistency({ ...c, hashes: [...c.hashes, r6] }, r6, root)), 'PROOF_LENGTH_INVALID');
  assert.equal(v(verifyConsistency({ ...c, hashes: [] }, r6, root)), 'PROOF_LENGTH_INVALID');
  assert.equal(v(verifyConsistency(c, tree.root(5), root)), 'CONSISTENCY_PROOF_INVALID');
  assert.equal(v(verifyConsistency(c, r6, tree.root(12))), 'CONSISTENCY_PROOF_INVALID');
  assert.equal(v(verifyConsistency({ from: 6, to: 6, hashes: [] }, r6, r6)), 'ok');
  assert.equal(v(verifyConsistency({ from: 6, to: 6, hashes: [] }, r6, root)), 'CONSISTENCY_PROOF_INVALID');
  assert.equal(v(verifyConsistency({ from: 6, to: 6, hashes: [r6] }, r6, r6)), 'PROOF_LENGTH_INVALID');
  assert.equal(v(verifyConsistency({ from: 0, to: 13, hashes: [] }, r6, root)), 'CONSISTENCY_PROOF_INVALID');
  assert.equal(v(verifyConsistency({ from: 0, to: 13, hashes: [] }, tree.root(0), root)), 'ok');
});

test('proof generation refuses out-of-range requests', () => {
  assert.throws(() => inclusionProof(tree, 13, 13), { code: 'PROOF_RANGE_INVALID' });
  assert.throws(() => inclusionProof(tree, 0, 14), { code: 'PROOF_RANGE_INVALID' });
  assert.throws(() => inclusionProof(tree, -1, 13), { code: 'PROOF_RANGE_INVALID' });
  assert.throws(() => consistencyProof(tree, 7, 6), { code: 'PROOF_RANGE_INVALID' });
  assert.throws(() => consistencyProof(tree, 6, 14), { code: 'PROOF_RANGE_INVALID' });
});
