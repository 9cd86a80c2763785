import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { startAgent } from '@tmb/agent';
import { provisionSwtpm, startSwtpm } from '@tmb/agent/tpm';
import { startVerifier } from '@tmb/verifier';
import { tempDir } from '../../../../test/fixtures/cleanup.ts';
import { fakeUpstream } from '../fixtures/model.ts';
import { scrape, until } from '../fixtures/prom.ts';

// The agent's quote metrics and /healthz on a real swtpm and verifier: each accepted quote is
// observed in tmb_agent_quote_duration_seconds, checkpoints are counted, /healthz names the last quote.

test('with a TPM: quotes are timed, checkpoints counted, /healthz names the last quote', async (t) => {
  // Each stop is added as its part starts; they run last-started first, then the folder goes
  // (test/fixtures/cleanup.ts).
  const { dir, closers: c } = await tempDir(t, 'tmb-ops-tpm-');
  const state = await provisionSwtpm(join(dir, 'swtpm'));
  const tpm = await startSwtpm(state);
  c.add(() => tpm.stop(), 'swtpm');
  const roots = [await readFile(state.rootCertPath, 'utf8'), await readFile(state.issuerCertPath, 'utf8')];
  const verifier = await startVerifier({
    dbPath: ':memory:',
    tokens: [{ token: 'ops-tpm-token-0123456789', agent: 'ops-tpm' }],
    tpmRoots: roots,
  });
  c.add(() => verifier.close(), 'verifier');
  const up = await fakeUpstream((_q, _b, res) => res.end('{}'));
  c.add(() => up.close(), 'model server');
  const agent = await startAgent(
    {
      upstream: up.url,
      dataDir: join(dir, 'agent'),
      name: 'ops-tpm',
      verifier: { url: verifier.url, token: 'ops-tpm-token-0123456789' },
      tpm: tpm.tcti,
      kernel: false,
      checkpointIntervalMs: 200,
      checkpointMinIntervalMs: 100,
    },
    () => {},
  );
  c.add(() => agent.close(), 'agent');
  await fetch(`${agent.url}/v1/models`).then((r) => r.text());
  await until(() => agent.attester.quoted !== undefined, 30_000, 'a quote accepted');
  const firstAt = agent.attester.quoted!.at;
  const m = await scrape(`${agent.url}/metrics`);
  assert.ok((m.get('tmb_agent_quote_duration_seconds_count') ?? 0) >= 1);
  assert.ok((m.get('tmb_agent_quote_duration_seconds_sum') ?? 0) > 0);
  assert.ok((m.get('tmb_agent_checkpoints_total') ?? 0) >= 1);
  const h = await (await fetch(`${agent.url}/healthz`)).json();
  assert.equal(h.status, 'ok');
  assert.equal(h.tpm, true);
  // This quote or a later one (the receipt above may bring another).
  assert.ok(Date.parse(h.lastQuote) >= firstAt, h.lastQuote);
});
