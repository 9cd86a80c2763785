import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';

const root = new URL('../../../', import.meta.url).pathname;
const node = `${root}node_modules/.bin/node`;

/** Whether `pid` still runs (a zombie waiting for its reaper has stopped running). */
function running(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]![0] !== 'Z';
  } catch {
    return false;
  }
}

test('the simulated nvidia-smi stops when the process that ran it, and its simulation, are gone', async () => {
  // An intermediate process starts the stand-in polling a simulation that is not there (as after
  // an agent was killed), prints its pid and exits without stopping it.
  const script = `const { spawn } = require('node:child_process');
    const c = spawn(process.argv[1], [process.argv[2], '--query-gpu=timestamp', '--format=csv,noheader', '-lms', '50'],
      { env: { ...process.env, TMB_SIM_GPU_URL: 'http://127.0.0.1:1' }, stdio: 'ignore', detached: true });
    c.unref(); console.log(c.pid);`;
  const pid = Number(
    execFileSync(node, ['-e', script, node, `${root}demo/bin/nvidia-smi`], { encoding: 'utf8' }).trim(),
  );
  assert.ok(pid > 0);
  for (let i = 0; i < 200 && running(pid); i++) await new Promise((r) => setTimeout(r, 50));
  const still = running(pid);
  if (still) process.kill(pid);
  assert.equal(still, false, 'the orphaned stand-in exited by itself');
});
