import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { pgSkip } from '../../test/fixtures/pg.ts';
import { alive, descendants } from '../scale/teardown.ts';

// Ctrl-C during the scale bench (bench/scale/teardown.ts): every process it started (swtpm,
// verifier processes, the PostgreSQL cluster and its backends) is stopped and every temporary
// folder removed, whether the signal comes during setup or during the measured phase.

const tools = ['swtpm', 'swtpm_setup', 'tpm2_quote'].filter((t) => spawnSync('which', [t]).status !== 0);
const skip =
  tools.length > 0 ? `needs ${tools.join(', ')}: apt-get install swtpm swtpm-tools tpm2-tools` : false;
const store = pgSkip() === false ? 'postgres' : 'sqlite';
const root = join(import.meta.dirname, '..', '..');

/**
 * Starts the bench, sends `signal` once a stderr line matches `when` (and every temporary folder
 * is named), then checks what it left: nothing running that descended from it, no folder.
 */
async function interrupt(agents: number, when: RegExp, signal: NodeJS.Signals): Promise<void> {
  const args = ['bench/run.ts', 'scale', '--agents', String(agents), '--seconds', '120', '--tpms', '1'];
  const child = spawn(process.execPath, [...args, '--verifiers', '2', '--store', store], {
    cwd: root,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let text = '';
  const dirs: string[] = [];
  const reached = await new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), 180_000);
    child.stderr.on('data', (d: Buffer) => {
      text += d.toString();
      for (const m of text.matchAll(/^scale: temporary folder (\S+)$/gm))
        if (!dirs.includes(m[1]!)) dirs.push(m[1]!);
      if (when.test(text)) {
        clearTimeout(timer);
        resolve(true);
      }
    });
    void exited.then(() => {
      clearTimeout(timer);
      resolve(false);
    });
  });
  const pids = descendants(child.pid!);
  child.kill(signal);
  let timer: NodeJS.Timeout | undefined;
  const code = await Promise.race([
    exited,
    new Promise((r) => (timer = setTimeout(() => r('timeout'), 90_000))),
  ]);
  clearTimeout(timer);
  if (code === 'timeout') child.kill('SIGKILL');
  assert.ok(reached, `the bench never printed ${when}:\n${text.slice(-3000)}`);
  assert.equal(code, signal === 'SIGINT' ? 130 : 143, text.slice(-3000));
  assert.match(text, new RegExp(`${signal}: stopping everything started`));
  assert.ok(pids.length >= 3, `expected swtpm and 2 verifiers among ${pids.join(', ')}`);
  // Bounded wait: reparented children are reaped by init, not by this process.
  const until = Date.now() + 10_000;
  while (pids.some(alive) && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
  for (const pid of pids) assert.equal(alive(pid), false, `process ${pid} still running`);
  // A private PostgreSQL cluster has its own folder; the server of TMB_TEST_PG_URL (CI) has none here.
  const privateCluster = store === 'postgres' && !process.env.TMB_TEST_PG_URL;
  assert.ok(dirs.length >= (privateCluster ? 2 : 1), `temporary folders named: ${dirs.join(', ')}`);
  for (const d of dirs) assert.equal(existsSync(d), false, `${d} left behind`);
}

test(
  `SIGINT in the measured phase (${store}) stops every child and removes the temporary folders`,
  { skip },
  () => interrupt(6, /^scale: measuring /m, 'SIGINT'),
);

test(`SIGTERM while enrolling (${store}) does the same`, { skip }, () =>
  interrupt(400, /^scale: \d+ verifier process\(es\) up; enrolling/m, 'SIGTERM'),
);
