import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { buildEntry, createPolicy, type ModelRegistry } from '@tmb/core/ima';
import type { RunningVerifier } from '../../src/index.ts';
import { digestOf, hexOf, type ScriptedHost, withVerifier } from './kernel-host.ts';

// Real quotes (swtpm) over a scripted kernel IMA log: host.integrity, weights.allowed,
// host.agent, host.engine and telemetry.tool come from the kernel's log as of the quote that
// judges each receipt, never retroactively.

const REGISTRY: ModelRegistry = {
  version: 1,
  models: {
    'big-model': { weights: [hexOf('big weights')] },
    'sample-1b': { weights: [hexOf('small weights')] },
  },
  engines: { 'llama.cpp': { executables: [hexOf('llama-server')] } },
  agents: [],
  agentBuilds: {
    [hexOf('build')]: {
      files: { 'agent/src/agent.ts': hexOf('agent.ts'), 'core/src/index.ts': hexOf('core index') },
    },
  },
  tools: { 'nvidia-smi': [hexOf('nvidia-smi')] },
};
// A Keylime runtime policy that allows node (made from the entry, as `tmb policy create` would).
const POLICY = createPolicy([buildEntry({ digest: digestOf('node'), path: '/usr/bin/node' })]);

let v: RunningVerifier;
let host: ScriptedHost;
let close: () => Promise<void>;

before(async () => {
  ({ v, host, close } = await withVerifier('tmb-kernel-', 'host-1', {
    registry: REGISTRY,
    imaPolicy: POLICY,
  }));
});

after(() => close?.());

/** The honest host's reads after boot. */
async function honest(): Promise<void> {
  await host.file('/usr/bin/node', 'node');
  await host.file('/opt/tmb/packages/agent/src/agent.ts', 'agent.ts');
  await host.file('/opt/tmb/packages/core/src/index.ts', 'core index');
  await host.file('/usr/bin/llama-server', 'llama-server');
  await host.file('/models/big.gguf', 'big weights');
  await host.file('/usr/bin/nvidia-smi', 'nvidia-smi');
}

type Verdict = {
  level: string;
  ok: boolean;
  host?: Record<string, unknown>;
  checks: { name: string; status: string; code?: string; detail: string }[];
};

async function verdict(id: string): Promise<Verdict> {
  const r = await fetch(`${v.url}/v1/receipts/${id}`);
  assert.equal(r.status, 200);
  return ((await r.json()) as { verdict: Verdict }).verdict;
}

function check(vd: Verdict, name: string) {
  const c = vd.checks.find((x) => x.name === name);
  assert.ok(c, `no ${name} in ${JSON.stringify(vd.checks.map((x) => x.name))}`);
  return c;
}

async function quoted(o?: Parameters<ScriptedHost['quote']>[0]) {
  const r = await host.quote(o);
  assert.equal(r.status, 200, JSON.stringify(r.json));
  return r.json as { checks: { name: string; status: string; code?: string }[] };
}

test('an honest host passes; a foreign file fails host.integrity for later receipts only', async () => {
  await honest();
  const early = await host.serve(2);
  const first = await quoted();
  assert.equal(first.checks.find((c) => c.name === 'host.integrity')?.status, 'pass');
  await host.file('/tmp/evil.so', 'evil');
  const late = await host.serve(2);
  const second = await quoted();
  // With a runtime policy loaded, the policy names why (without one: HOST_FILE_NOT_ALLOWED).
  assert.equal(second.checks.find((c) => c.name === 'host.integrity')?.code, 'IMA_FILE_NOT_IN_POLICY');
  for (const id of early) {
    const vd = await verdict(id);
    for (const n of [
      'host.integrity',
      'weights.allowed',
      'host.engine',
      'host.agent',
      'telemetry.tool',
      'key.bound',
    ])
      assert.equal(check(vd, n).status, 'pass', `${n}: ${check(vd, n).detail}`);
    assert.deepEqual(vd.host, { kernel: 'simulated', boot: 'absent', secureBoot: null });
    // No boot log was sent: host.boot keeps the verdict below L1.
    assert.equal(check(vd, 'host.boot').code, 'BOOT_LOG_ABSENT');
    assert.equal(vd.level, 'L0');
  }
  for (const id of late) {
    const c = check(await verdict(id), 'host.integrity');
    assert.equal(c.code, 'IMA_FILE_NOT_IN_POLICY');
    assert.match(c.detail, /#8 \/tmp\/evil\.so sha256:/);
  }
  // A later quote of the same host: still untrusted (until a reboot).
  const after = await host.serve(1);
  await quoted();
  assert.equal(check(await verdict(after[0]!), 'host.integrity').status, 'fail');
});

test("after a reboot, reading another model's weights fails weights.allowed naming sample-1b", async () => {
  await host.reboot();
  await honest();
  await host.file('/models/small.gguf', 'small weights');
  const [id] = await host.serve(1);
  await quoted();
  const vd = await verdict(id!);
  assert.equal(check(vd, 'host.integrity').status, 'pass');
  const w = check(vd, 'weights.allowed');
  assert.equal(w.code, 'WEIGHTS_NOT_ALLOWED');
  assert.match(w.detail, /sample-1b/);
});

test('a patched agent file fails host.agent (and host.integrity)', async () => {
  await host.reboot();
  await host.file('/usr/bin/node', 'node');
  await host.file('/opt/tmb/packages/agent/src/agent.ts', 'patched agent.ts');
  await host.file('/usr/bin/llama-server', 'llama-server');
  await host.file('/models/big.gguf', 'big weights');
  const [id] = await host.serve(1);
  await quoted();
  const vd = await verdict(id!);
  assert.equal(check(vd, 'host.agent').code, 'AGENT_BUILD_NOT_ALLOWED');
  assert.match(check(vd, 'host.agent').detail, /agent\/src\/agent\.ts/);
  assert.equal(check(vd, 'host.integrity').status, 'fail');
});

test('a telemetry tool with another digest fails telemetry.tool; none read: not measured', async () => {
  await host.reboot();
  await host.file('/usr/bin/node', 'node');
  await host.file('/opt/tmb/packages/agent/src/agent.ts', 'agent.ts');
  await host.file('/models/big.gguf', 'big weights');
  const [id] = await host.serve(1);
  await quoted({ telemetryTool: '/usr/local/bin/nvidia-smi' });
  assert.equal(check(await verdict(id!), 'telemetry.tool').code, 'TELEMETRY_TOOL_NOT_MEASURED');
  await host.file('/usr/local/bin/nvidia-smi', 'fake smi');
  const [later] = await host.serve(1);
  await quoted({ telemetryTool: '/usr/local/bin/nvidia-smi' });
  const vd = await verdict(later!);
  assert.equal(check(vd, 'telemetry.tool').code, 'TELEMETRY_TOOL_NOT_ALLOWED');
  assert.notEqual(vd.level, 'L2');
});

test('kernel: null fails host.integrity with KERNEL_LOG_ABSENT and keeps the receipt at L0', async () => {
  await host.reboot();
  const [id] = await host.serve(1);
  const r = await quoted({ edit: (b) => (b.kernel = null) });
  assert.equal(r.checks.find((c) => c.name === 'host.integrity')?.code, 'KERNEL_LOG_ABSENT');
  const vd = await verdict(id!);
  assert.equal(check(vd, 'host.integrity').code, 'KERNEL_LOG_ABSENT');
  assert.equal(vd.host?.kernel, 'absent');
  assert.equal(vd.level, 'L0');
});

test('a kernel log that does not continue where the verifier stands is refused, naming host.integrity', async () => {
  await host.file('/usr/bin/node', 'node');
  const r = await host.quote({
    edit: (b) => {
      const k = b.kernel as { from: number; entries: string };
      const all = Buffer.from(k.entries, 'base64url');
      // Entry 0 is 20 + 4 + 4 + ... bytes: skip it by sending from index 1 with the rest.
      const first = 4 + 20 + 4 + 'ima-ng'.length + 4 + all.readUInt32LE(4 + 20 + 4 + 6);
      b.kernel = { from: 1, entries: all.subarray(first).toString('base64url') };
    },
  });
  assert.equal(r.status, 422, JSON.stringify(r.json));
  const c = (r.json.checks as { name: string; code?: string }[]).find((x) => x.name === 'host.integrity');
  assert.equal(c?.code, 'IMA_INDEX_GAP');
});

test('malformed kernel, boot and telemetryTool members are 400 BODY_MALFORMED naming the member', async () => {
  const cases: [string, (b: Record<string, unknown>) => void, RegExp][] = [
    ['kernel.from', (b) => (b.kernel = { from: -1, entries: '' }), /kernel\.from/],
    ['kernel.entries', (b) => (b.kernel = { from: 0, entries: '!!' }), /kernel\.entries/],
    ['kernel', (b) => (b.kernel = 'x'), /kernel/],
    ['boot.log', (b) => (b.boot = { log: 5 }), /boot\.log/],
    ['boot', (b) => (b.boot = []), /boot/],
    ['telemetryTool', (b) => (b.telemetryTool = 7), /telemetryTool/],
    ['telemetryTool size', (b) => (b.telemetryTool = `/${'a'.repeat(5000)}`), /telemetryTool/],
  ];
  for (const [what, edit, named] of cases) {
    const r = await host.quote({ edit });
    assert.equal(r.status, 400, what);
    assert.equal((r.json.error as { code: string }).code, 'BODY_MALFORMED', what);
    assert.match(String((r.json.error as { message: string }).message), named, what);
  }
});
