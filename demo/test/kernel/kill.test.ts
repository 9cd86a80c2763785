import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { provisionSwtpm, startSwtpm } from '@tmb/agent/tpm';
import { tempDir } from '../../../test/fixtures/cleanup.ts';

const node = new URL('../../../node_modules/.bin/node', import.meta.url).pathname;
const fixture = new URL('./fixtures/node-side.ts', import.meta.url).pathname;

test('killing the Node side leaves no opener blocked', async (t) => {
  if (process.getuid?.() !== 0) return t.skip('the simulated kernel needs root (fanotify permission events)');
  // The Node side is killed, then the swtpm stopped, then the folder removed (test/fixtures/cleanup.ts).
  const { dir, closers: c } = await tempDir(t, 'tmb-kernel-kill-');
  const tpm = await startSwtpm(await provisionSwtpm(join(dir, 'swtpm')));
  c.add(() => tpm.stop(), 'swtpm');
  if (tpm.tcti.kind !== 'swtpm') throw new Error('tcp swtpm expected');
  const side = spawn(node, [fixture, dir, String(tpm.tcti.port)], { stdio: ['ignore', 'pipe', 'pipe'] });
  c.add(() => side.kill('SIGKILL'), 'node side');
  let err = '';
  side.stderr!.on('data', (d: Buffer) => {
    err += d.toString();
  });
  const nsPid = await new Promise<number>((resolve, reject) => {
    side.stdout!.once('data', (d: Buffer) => resolve(Number(d.toString().trim())));
    side.once('exit', () => reject(new Error(`node side exited: ${err}`)));
  });
  if (!(nsPid > 0)) {
    if (/fanotify/.test(err)) return t.skip(`fanotify is unavailable here: ${err}`);
    assert.fail(err);
  }
  const f = join(dir, 'held.txt');
  await writeFile(f, 'held\n');
  // Stopped, the Node side answers nothing: the opener's exec and open are held by the helper.
  side.kill('SIGSTOP');
  const opener = spawn('nsenter', [`--mount=/proc/${nsPid}/ns/mnt`, '--', 'cat', f], {
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  let out = '';
  opener.stdout!.on('data', (d: Buffer) => {
    out += d.toString();
  });
  const closed = new Promise<number | null>((r) => opener.once('close', (code) => r(code)));
  const early = await Promise.race([
    closed.then(() => 'done'),
    new Promise((r) => setTimeout(() => r('held'), 500)),
  ]);
  assert.equal(early, 'held', 'the opener waits while the Node side does not answer');
  side.kill('SIGKILL');
  const timer = setTimeout(() => opener.kill('SIGKILL'), 10_000);
  const code = await closed;
  clearTimeout(timer);
  assert.equal(code, 0, 'the opener finished once the Node side was gone');
  assert.equal(out, 'held\n');
});
