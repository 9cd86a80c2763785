// Issue 9: "The README's snippet says { level: 'L1', ok: true } and returns L0, and uses undefined
// names." The client snippet is run here as written, as its own Node process, against a real
// verifier and a stand-in agent; only the two addresses are changed to this test's ports.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { type RunningVerifier, startVerifier } from '@tmb/verifier';
import { AGENT, type FakeAgent, startFakeAgent, TOKEN } from './fake-agent.ts';

const root = new URL('../../../', import.meta.url);
let verifier: RunningVerifier;
let agent: FakeAgent;
before(async () => {
  verifier = await startVerifier({ dbPath: ':memory:', tokens: [{ token: TOKEN, agent: AGENT }] });
  agent = await startFakeAgent(verifier.url);
});
after(async () => {
  await agent.close();
  await verifier.close();
});

test("the README's client snippet runs as written and prints the level it reached", async () => {
  const readme = await readFile(new URL('README.md', root), 'utf8');
  const snippet = /```ts\n(\/\/ check\.mts[\s\S]*?)```/.exec(readme)?.[1];
  assert.ok(snippet, 'the README has the check.mts snippet');
  // Inside the package, so that `@tmb/client` and `openai` resolve as from the repository root.
  const dir = await mkdtemp(join(new URL('..', import.meta.url).pathname, '.readme-'));
  try {
    const key = await (await fetch(`${verifier.url}/v1/verifier-key`)).text();
    await writeFile(join(dir, 'verifier-key.json'), key);
    const code = snippet
      .replaceAll('http://127.0.0.1:7300', verifier.url)
      .replaceAll('http://127.0.0.1:8080', agent.url);
    await writeFile(join(dir, 'check.mts'), code);
    const { stdout } = await promisify(execFile)(process.execPath, ['check.mts'], {
      cwd: dir,
      timeout: 30_000,
    });
    // The stand-in agent has no TPM: L0, every check passing.
    assert.equal(stdout, 'Hello there, friend.\nL0 true\n');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
