// `tmb tpm swtpm --unix` prints, as "tcti", exactly the --tpm value `tmb agent` takes.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { type Tmb, tmb } from './proc.ts';

const START_MS = 90_000; // swtpm manufacturing and the agent's start on a loaded 2-core machine

test('tmb tpm swtpm --unix: the agent starts on the printed tcti and uses the TPM', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'tmb-swtpm-unix-'));
  const running: Tmb[] = [];
  t.after(async () => {
    for (const p of running.reverse()) await p.stop();
    await rm(dir, { recursive: true, force: true });
  });
  const swtpm = tmb(['tpm', 'swtpm', '--state', join(dir, 'swtpm'), '--unix']);
  running.push(swtpm);
  const tpm = await swtpm.ready<{ tcti: string; tpm2Tcti: string; ekRoots: string }>(START_MS);
  assert.equal(tpm.tcti, `unix:${join(dir, 'swtpm', 'swtpm.sock')}`);
  assert.equal(tpm.tpm2Tcti, `swtpm:path=${join(dir, 'swtpm', 'swtpm.sock')}`);
  // It said what it was doing while it manufactured the TPM.
  assert.match(swtpm.err(), /manufacturing the swtpm/);

  const agent = tmb([
    ...['agent', '--upstream', 'http://127.0.0.1:9', '--name', 'gpu-unix', '--port', '0'],
    ...['--data-dir', join(dir, 'agent'), '--no-kernel-ima', '--tpm', tpm.tcti],
  ]);
  running.push(agent);
  const ready = await agent.ready<{ listening: string; tpmPcr: number | null }>(START_MS);
  // A TPM was opened: the key binding's application PCR is named (null without a TPM).
  assert.equal(ready.tpmPcr, 15, agent.err());
  assert.doesNotMatch(agent.err(), /tpm_none|tpm_absent/);
  // It said what it was doing while it opened the TPM and measured the host (JSON log lines).
  const steps = agent
    .err()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as { event: string; step?: string })
    .filter((e) => e.event === 'start_step')
    .map((e) => e.step);
  assert.deepEqual(steps, ['tpm', 'measure']);
  await agent.stop();
  assert.equal(await agent.exited(1000), 0, agent.err());
});
