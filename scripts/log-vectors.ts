/**
 * Regenerates packages/core/test/vectors/log/*.json (README there says what each holds).
 *   node_modules/.bin/node scripts/log-vectors.ts
 * Reference values (leaf inputs, roots, proofs, the PeterNeumann note) are copied from upstream
 * test suites and written next to what our code computes; the tests check both agree.
 */
import { createPrivateKey, createPublicKey, sign } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { ed25519Raw, fromHex, sha256, toHex, utf8 } from '@tmb/core';
import {
  consistencyProof,
  ed25519NoteSigner,
  encodeConsistencyProof,
  encodeInclusionProof,
  formatVerifierKey,
  inclusionProof,
  leafHash,
  MemoryTree,
  signCheckpoint,
  signNote,
} from '@tmb/core/log';

const out = new URL('../packages/core/test/vectors/log/', import.meta.url);
const write = (name: string, value: unknown) =>
  writeFile(new URL(name, out), `${JSON.stringify(value, null, 2)}\n`);

// transparency-dev/merkle testonly/constants.go (commit 582a6ad1): the 8-leaf RFC 6962 reference tree.
const LEAF_INPUTS = [
  '',
  '00',
  '10',
  '2021',
  '3031',
  '40414243',
  '5051525354555657',
  '606162636465666768696a6b6c6d6e6f',
];
const REFERENCE_ROOTS = [
  'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
  '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
  'fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125',
  'aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77',
  'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
  '4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4',
  '76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef',
  'ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c',
  '5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328',
];
// transparency-dev/merkle testonly/reference_test.go (TestRefInclusionProof, TestRefConsistencyProof).
const REFERENCE_INCLUSION = [
  { index: 0, size: 1, hashes: [] },
  { index: 0, size: 2, hashes: ['96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7'] },
  { index: 1, size: 2, hashes: ['6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d'] },
  { index: 2, size: 3, hashes: ['fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125'] },
  {
    index: 1,
    size: 5,
    hashes: [
      '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
      '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
      'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b',
    ],
  },
  {
    index: 0,
    size: 8,
    hashes: [
      '96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7',
      '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
      '6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4',
    ],
  },
  {
    index: 5,
    size: 8,
    hashes: [
      'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b',
      'ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0',
      'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
    ],
  },
];
const REFERENCE_CONSISTENCY = [
  { from: 1, to: 1, hashes: [] },
  {
    from: 1,
    to: 8,
    hashes: [
      '96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7',
      '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
      '6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4',
    ],
  },
  {
    from: 2,
    to: 5,
    hashes: [
      '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
      'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b',
    ],
  },
  {
    from: 6,
    to: 8,
    hashes: [
      '0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a',
      'ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0',
      'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
    ],
  },
];

const tree = new MemoryTree(LEAF_INPUTS.map((h) => leafHash(fromHex(h))));
const inclusion = [];
const consistency = [];
for (let size = 1; size <= 8; size++) {
  for (let index = 0; index < size; index++) {
    const p = inclusionProof(tree, index, size);
    inclusion.push({ index, size, hashes: p.hashes.map(toHex) });
  }
  for (let from = 0; from <= size; from++) {
    const p = consistencyProof(tree, from, size);
    consistency.push({ from, to: size, hashes: p.hashes.map(toHex) });
  }
}
await write('tree.json', {
  source:
    'leafInputs, referenceRoots, referenceInclusion, referenceConsistency: transparency-dev/merkle testonly/constants.go and reference_test.go; the rest computed by @tmb/core/log (scripts/log-vectors.ts)',
  leafInputs: LEAF_INPUTS,
  referenceRoots: REFERENCE_ROOTS,
  referenceInclusion: REFERENCE_INCLUSION,
  referenceConsistency: REFERENCE_CONSISTENCY,
  leafHashes: LEAF_INPUTS.map((h) => toHex(leafHash(fromHex(h)))),
  roots: Array.from({ length: 9 }, (_, n) => toHex(tree.root(n))),
  inclusion,
  consistency,
});

// golang.org/x/mod/sumdb/note note_test.go: the PeterNeumann key (seed = PRIVATE+KEY..., after the 0x01 byte).
const pkcs8 = (seed: Uint8Array) =>
  createPrivateKey({
    key: Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), seed]),
    format: 'der',
    type: 'pkcs8',
  });
const peterSeed = Buffer.from('AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz', 'base64').subarray(1);
const peterKey = pkcs8(peterSeed);
const peterPub = ed25519Raw(createPublicKey(peterKey));
const peterText =
  "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n";
const signer = (name: string, key: ReturnType<typeof pkcs8>) =>
  ed25519NoteSigner(name, ed25519Raw(createPublicKey(key)), (m) => new Uint8Array(sign(null, m, key)));
await write('note.json', {
  source:
    'golang.org/x/mod/sumdb/note note_test.go (vkey, skey seed, text, signed note); ours must reproduce it',
  vkey: 'PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW',
  seed: toHex(peterSeed),
  publicKey: toHex(peterPub),
  text: peterText,
  referenceNote: `${peterText}\n\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n`,
  note: await signNote(peterText, [signer('PeterNeumann', peterKey)]),
  computedVkey: formatVerifierKey('PeterNeumann', peterPub),
});

// A TMB checkpoint over the 8-leaf reference tree, signed by a deterministic test key.
const seed = sha256(utf8('tmb log vector key'));
const key = pkcs8(seed);
const origin = 'tmb.example/agent/vector';
const witness = pkcs8(sha256(utf8('tmb log vector witness')));
const checkpoints = [];
for (const size of [0, 1, 5, 8]) {
  const cp = { origin, size, root: tree.root(size), extensions: [] };
  checkpoints.push({ size, root: toHex(cp.root), note: await signCheckpoint(cp, [signer(origin, key)]) });
}
await write('checkpoint.json', {
  source:
    'computed by @tmb/core/log (scripts/log-vectors.ts); c2spExample from c2sp.org/tlog-checkpoint (body only: its key is not published)',
  origin,
  seed: toHex(seed),
  vkey: formatVerifierKey(origin, ed25519Raw(createPublicKey(key))),
  witnessVkey: formatVerifierKey('tmb.example/witness', ed25519Raw(createPublicKey(witness))),
  checkpoints,
  cosigned: await signCheckpoint({ origin, size: 8, root: tree.root(8), extensions: [] }, [
    signer(origin, key),
    signer('tmb.example/witness', witness),
  ]),
  c2spExample: {
    text: 'example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n',
    origin: 'example.com/behind-the-sofa',
    size: 20852163,
    root: toHex(Buffer.from('CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=', 'base64')),
  },
});

await write('proofs.json', {
  source: 'docs/proofs.md examples, computed by @tmb/core/log over the 8-leaf reference tree',
  leafHash: toHex(tree.node(0, 5)),
  root: toHex(tree.root(8)),
  inclusion: encodeInclusionProof(inclusionProof(tree, 5, 8)),
  fromRoot: toHex(tree.root(6)),
  consistency: encodeConsistencyProof(consistencyProof(tree, 6, 8)),
});
console.log(`wrote ${out.pathname}`);
