import { hash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { parseBinaryLog, replay, templateHashInput } from '@tmb/core/ima';

const all = new Uint8Array(readFileSync('/tmp/tmb-bench-ima-v1-300000.bin'));
const entries = parseBinaryLog(all);
for (let k = 0; k < 3; k++) {
  let t = performance.now();
  replay(entries, { bank: 'sha256' });
  const a = performance.now() - t;
  const pad = new Uint8Array(64);
  t = performance.now();
  for (const e of entries) {
    hash('sha256', templateHashInput(e));
    hash('sha256', pad);
  }
  const b = performance.now() - t;
  console.log('replay', a.toFixed(0), 'floor', b.toFixed(0));
}
