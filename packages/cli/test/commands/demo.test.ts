import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { type TestContext, test } from 'node:test';
import { closers } from '../../../../test/fixtures/cleanup.ts';
import { main } from '../../src/main.ts';
import { capture } from '../io.ts';

/** The demo's own state folder, as it printed it. */
const stateDir = (text: string) => /state folder (\S+) /.exec(text)?.[1];

/**
 * A folder this test owns for the demo's state folder (--data-dir): other demos, or other
 * tests' temp folders, never share it, so "nothing left behind" is checked on it alone.
 */
function ownDir(t: TestContext): Promise<string> {
  return closers(t).dir('tmb-demo-test-');
}

/** The demo made its state folder inside `parent` and removed it. */
function leftNothing(parent: string, printed: string): void {
  const dir = stateDir(printed);
  assert.ok(dir?.startsWith(`${parent}/`), `state folder ${dir} not inside ${parent}`);
  assert.deepEqual(readdirSync(parent), [], `left behind in ${parent}`);
}
const urls = (text: string) => [...text.matchAll(/http:\/\/127\.0\.0\.1:\d+/g)].map((m) => m[0]);

async function refused(url: string): Promise<boolean> {
  try {
    await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(2000) });
    return false;
  } catch {
    return true;
  }
}

/** A bound on a hang (a whole demo beside other heavy tests on 2 cores can pass 120 s), never a wait. */
const DEMO_TEST_TIMEOUT_MS = 600_000;

type C = { name: string; status: string; code?: string; detail: string };
type Row = {
  requestId: string;
  receiptId: string;
  backend: string;
  host: string | null;
  agent: string | null;
  routing: string;
  endpoint: string;
  stream: boolean;
  model: string;
  completionTokens: number | null;
  level: string;
  ok: boolean;
  checks: C[];
  verdict: { receiptId: string; level: string };
};
type Summary = {
  routing: string;
  url: string | null;
  groundTruth: string;
  cheat: { asked: number; share: number };
  hosts: Array<{
    host: string;
    variant: string;
    weight: number;
    answers: number;
    levels: Record<string, number>;
    downgraded: number;
  }>;
  unknown: number;
  agentMismatch: number;
  cheap: { served: number; caught: number; caughtShare: number | null };
  honest: { served: number; falseAlarms: number };
  ok: boolean;
};

/** The JSON lines of a --json run: the rows, then the summary (last). */
function parseJson(out: string): { rows: Row[]; summary: Summary } {
  const lines = out
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  const summary = lines.pop()?.summary as Summary | undefined;
  assert.ok(summary !== undefined, 'the last line is the summary');
  return { rows: lines as Row[], summary };
}

/**
 * The summary agrees with the rows, and the rows with the ground truth: each answer's host is
 * the one nginx's log (or, without nginx, the client) says served it, and its receipt names
 * that same agent; every cheap answer is caught, no honest one downgraded.
 */
function agrees(rows: Row[], summary: Summary, routing: string): void {
  assert.equal(summary.routing, routing);
  for (const r of rows) {
    assert.equal(r.routing, routing);
    assert.ok(r.host !== null, `no host for ${r.requestId}`);
    assert.equal(r.agent, r.host, 'the receipt names the agent nginx sent the request to');
    assert.equal(r.backend, r.host === 'gpu-cheap' ? 'cheap' : 'honest');
    assert.equal(r.ok, r.backend === 'honest', JSON.stringify(r.checks));
  }
  const cheap = rows.filter((r) => r.backend === 'cheap').length;
  assert.deepEqual(summary.cheap, { served: cheap, caught: cheap, caughtShare: cheap > 0 ? 1 : null });
  assert.deepEqual(summary.honest, { served: rows.length - cheap, falseAlarms: 0 });
  assert.equal(summary.unknown, 0);
  assert.equal(summary.agentMismatch, 0);
  assert.equal(summary.ok, true);
  for (const h of summary.hosts)
    assert.equal(h.answers, rows.filter((r) => r.host === h.host).length, h.host);
}

test("tmb demo --once --json: nginx in front of the hosts (swtpm, simulated-GPU telemetry): honest answers reach L2 (embeddings L1); every cheap one is caught, no false alarm, per nginx's access log", {
  timeout: DEMO_TEST_TIMEOUT_MS,
}, async (t) => {
  const io = capture();
  const parent = await ownDir(t);
  // Two hosts (the load of the demo before nginx: 3 hosts are tested without a TPM below).
  // --cheat 0.2 over 1 honest host: weights 4, 1, a period of 5; 15 requests give the cheap
  // host a streamed completion, an embedding and a chat answer (requests 2, 7 and 12).
  const argv = ['demo', '--once', '--json', '--tpm', 'swtpm', '--hosts', '2', '--requests', '15'];
  assert.equal(await main([...argv, '--data-dir', parent], io), 0, io.err);
  const { rows, summary } = parseJson(io.out);
  assert.equal(rows.length, 15);
  agrees(rows, summary, 'nginx');
  for (const r of rows) {
    const cheap = r.backend === 'cheap';
    const embeddings = r.endpoint === 'embeddings';
    const check = (name: string) => r.checks.find((c: C) => c.name === name) as C | undefined;
    // The cheap backend's measured weights are sample-1b: caught, and kept below L1 (docs/registry.md).
    const weights = check('weights.allowed');
    assert.equal(weights?.status, cheap ? 'fail' : 'pass', JSON.stringify(weights));
    if (cheap) assert.match(weights!.detail, /weights of sample-1b/);
    // Its simulated GPU spends 0.6 times the energy per token: telemetry catches it too.
    const telemetry = check('telemetry.consistent');
    if (embeddings) assert.equal(telemetry?.status ?? 'skipped', 'skipped', JSON.stringify(telemetry));
    else
      assert.deepEqual(
        [telemetry?.status, telemetry?.code],
        cheap ? ['fail', 'TELEMETRY_INCONSISTENT'] : ['pass', undefined],
        JSON.stringify(telemetry),
      );
    assert.equal(r.level, cheap ? 'L0' : embeddings ? 'L1' : 'L2', JSON.stringify(r.checks));
    if (!embeddings) assert.equal(r.completionTokens, 48);
    assert.match(r.receiptId, /^[0-9a-f]{32}$/);
    // nginx gave each request its id ($request_id): the receipt binds it, the access log names it.
    assert.match(r.requestId, /^[0-9a-f]{32}$/);
    assert.equal(r.verdict.receiptId, r.receiptId);
    assert.equal(r.verdict.level, r.level);
    assert.equal(check('receipt.included')?.status, 'pass');
    assert.match(check('receipt.included')!.detail, /^checked here/);
    assert.equal(check('client.response_hash')?.status, 'pass');
    assert.equal(r.model, 'sample-7b');
  }
  assert.deepEqual([...new Set(rows.map((r) => r.host))].sort(), ['gpu-cheap', 'gpu-honest']);
  assert.deepEqual([...new Set(rows.filter((r) => r.backend === 'cheap').map((r) => r.stream))].sort(), [
    false,
    true,
  ]);
  assert.equal(new Set(rows.map((r) => r.receiptId)).size, 15);
  assert.deepEqual(summary.cheat, { asked: 0.2, share: 0.2 });
  assert.deepEqual(
    summary.hosts.map((h) => [h.host, h.weight]),
    [
      ['gpu-honest', 4],
      ['gpu-cheap', 1],
    ],
  );
  assert.match(summary.groundTruth, /nginx's access log/);
  // The prose goes to stderr: what each level proves, that the GPU is simulated, the warm-up's time.
  assert.match(io.err, /What L0 proves/);
  assert.match(io.err, /NOT\s+caught at L0/);
  assert.match(io.err, /What L1 adds/);
  assert.match(io.err, /What L2 adds: THE GPU IS SIMULATED/);
  assert.match(io.err, /warm-up: \d+ requests to the honest backend in \d+\.\d s/);
  assert.match(io.err, /routing: nginx http:\/\/127\.0\.0\.1:\d+ -> the agents above/);
  assert.match(io.err, /every cheap one was caught by weights\.allowed and telemetry\.consistent/);
  // Everything it started is stopped and its temporary folder removed.
  const started = new Set(urls(io.err));
  assert.equal(started.size, 8); // verifier, nginx, two sample servers, simulated GPUs and agents
  for (const u of started) assert.ok(await refused(u), `${u} still answers`);
  leftNothing(parent, io.err);
});

test('tmb demo --once --tpm none --cheat 0.5 prints a table and a summary: L0 at most, the cheap rows caught by both checks', {
  timeout: DEMO_TEST_TIMEOUT_MS,
}, async (t) => {
  const io = capture();
  const parent = await ownDir(t);
  const argv = ['demo', '--once', '--tpm', 'none', '--hosts', '2', '--cheat', '0.5'];
  assert.equal(await main([...argv, '--data-dir', parent], io), 0, io.out);
  const lines = io.out.split('\n');
  const header = lines.findIndex((l) => l.startsWith('request id'));
  assert.ok(header > 0);
  assert.match(
    lines[header]!,
    /receipt\s+backend\s+host\s+endpoint\s+stream\s+model\s+tokens\s+level\s+ok\s+failed checks/,
  );
  const rows = lines.slice(header + 1).filter((l) => /^[0-9a-f-]{32,36} /.test(l));
  assert.equal(rows.length, 8);
  for (const r of rows)
    assert.match(
      r,
      !/ cheap /.test(r)
        ? / honest +gpu-honest .* L0 +yes +-$/
        : / embeddings /.test(r)
          ? / gpu-cheap .* L0 +NO +weights\.allowed \(WEIGHTS_NOT_ALLOWED\)$/
          : / gpu-cheap .* L0 +NO +weights\.allowed \(WEIGHTS_NOT_ALLOWED\), telemetry\.consistent \(TELEMETRY_INCONSISTENT\)$/,
    );
  assert.equal(rows.filter((r) => / cheap /.test(r)).length, 4, 'weights 1 and 1: every other request');
  assert.match(
    io.out,
    /routing: nginx http:\/\/127\.0\.0\.1:\d+; where each request went: nginx's access log/,
  );
  assert.match(io.out, /cheat share 0\.5 asked, 0\.5 configured \(weights: gpu-honest 1, gpu-cheap 1\)/);
  assert.match(io.out, /gpu-cheap +cheap +4 +L0 4 +4\n/);
  assert.match(io.out, /cheap answers caught: 4 of 4 \(100%\); false alarms on honest hosts: 0 of 4/);
  assert.match(io.out, /NOT\s+caught at L0/);
  assert.match(io.out, /THE GPU IS SIMULATED/);
  assert.match(io.out, /L1 and L2 are out of reach/);
  leftNothing(parent, io.out);
});

/** A fast demo (no TPM, no telemetry, no token latency) with `flags`, --json: its rows and summary. */
async function fastJson(t: TestContext, flags: string[]) {
  const io = capture();
  const parent = await ownDir(t);
  const argv = ['demo', '--once', '--json', '--tpm', 'none', '--no-telemetry', '--token-latency', '0'];
  assert.equal(await main([...argv, ...flags, '--data-dir', parent], io), 0, io.err);
  leftNothing(parent, io.err);
  return { ...parseJson(io.out), err: io.err };
}

test("nginx over 3 hosts, --cheat 0.5: every cheap answer caught, no false alarm, per nginx's access log", {
  timeout: DEMO_TEST_TIMEOUT_MS,
}, async (t) => {
  const { rows, summary } = await fastJson(t, ['--cheat', '0.5', '--hosts', '3']);
  assert.equal(rows.length, 12);
  agrees(rows, summary, 'nginx');
  // Weights 1, 1 and 2: half to the cheap host, the rest shared by both honest ones.
  assert.deepEqual(
    summary.hosts.map((h) => [h.host, h.weight, h.answers > 0]),
    [
      ['gpu-honest', 1, true],
      ['gpu-honest-2', 1, true],
      ['gpu-cheap', 2, true],
    ],
  );
  for (const r of rows.filter((x) => x.backend === 'cheap'))
    assert.equal(r.checks.find((c) => c.name === 'weights.allowed')?.code, 'WEIGHTS_NOT_ALLOWED');
});

test('--cheat 0: an honest provider: nginx sends nothing to the cheap host, every answer passes', {
  timeout: DEMO_TEST_TIMEOUT_MS,
}, async (t) => {
  const { rows, summary } = await fastJson(t, ['--cheat', '0', '--hosts', '3']);
  assert.equal(rows.length, 12);
  agrees(rows, summary, 'nginx');
  assert.deepEqual(new Set(rows.map((r) => r.backend)), new Set(['honest']));
  assert.deepEqual(summary.cheap, { served: 0, caught: 0, caughtShare: null });
  assert.equal(summary.hosts.find((h) => h.host === 'gpu-cheap')?.weight, 0);
});

test('--routing direct: without nginx the client routes by the same weights, and every line says so', {
  timeout: DEMO_TEST_TIMEOUT_MS,
}, async (t) => {
  const { rows, summary, err } = await fastJson(t, ['--routing', 'direct', '--cheat', '0.5', '--hosts', '2']);
  assert.equal(rows.length, 8);
  agrees(rows, summary, 'direct (no nginx)');
  assert.equal(rows.filter((r) => r.backend === 'cheap').length, 4);
  assert.equal(summary.url, null);
  assert.match(summary.groundTruth, /the client's own routing/);
  assert.match(
    err,
    /routing: direct \(no nginx\): --routing direct; the demo client picks each request's host/,
  );
});

test('without --once it prints a tmb chat line, keeps sending until SIGTERM, prints the summary, then stops everything', {
  timeout: DEMO_TEST_TIMEOUT_MS,
}, async (t) => {
  const listeners = process.listenerCount('SIGTERM');
  const io = capture();
  const parent = await ownDir(t);
  const done = main(
    [
      'demo',
      '--interval',
      '0.05',
      '--token-latency',
      '0',
      '--tpm',
      'none',
      '--no-telemetry',
      '--hosts',
      '2',
      '--data-dir',
      parent,
    ],
    io,
  );
  let settled = false;
  done.then(
    () => (settled = true),
    () => (settled = true),
  );
  // Ten rows means the first round of eight and two from the loop.
  while (!settled && (io.out.match(/ L0 +(yes|NO)/g) ?? []).length < 10)
    await new Promise((r) => setTimeout(r, 20));
  assert.equal(settled, false, `it stopped by itself: ${io.err}`);
  // The chat line names nginx, the verifier and the verifier's key, written to the state folder.
  const chat = /tmb chat --url (\S+) --verifier (\S+) --verifier-key (\S+) --model sample-7b/.exec(io.out);
  assert.ok(chat, io.out);
  assert.match(io.out, new RegExp(`routing: nginx ${chat[1]} `));
  const key = JSON.parse(readFileSync(chat[3]!, 'utf8')) as JsonWebKey;
  assert.deepEqual(key, await (await fetch(`${chat[2]}/v1/verifier-key`)).json());
  process.emit('SIGTERM', 'SIGTERM');
  assert.equal(await done, 0);
  assert.match(io.out, /cheap answers caught: (\d+) of \1 \(100%\); false alarms on honest hosts: 0 of \d+/);
  for (const u of new Set(urls(io.out))) assert.ok(await refused(u), `${u} still answers`);
  leftNothing(parent, io.out);
  assert.equal(process.listenerCount('SIGTERM'), listeners, 'its signal handlers are removed');
});

test('bad flags are a usage error; --help exits 0', async () => {
  const io = capture();
  assert.equal(await main(['demo', '--interval', 'soon'], io), 2);
  assert.match(io.err, /--interval/);
  assert.equal(await main(['demo', '--nope'], capture()), 2);
  // The simulated GPU needs time per token: 0 only without telemetry.
  const zero = capture();
  assert.equal(await main(['demo', '--token-latency', '0'], zero), 2);
  assert.match(zero.err, /--token-latency must be a number >= 1/);
  const help = capture();
  assert.equal(await main(['demo', '--help'], help), 0);
  assert.match(help.out, /--once/);
  assert.match(help.out, /--no-telemetry/);
  assert.match(help.out, /--data-dir DIR/);
  assert.match(help.out, /--cheat SHARE/);
  assert.match(help.out, /--hosts N/);
  assert.match(help.out, /--routing MODE/);
});
