// `tmb chat` against a demo stack (startStack, no telemetry): the honest and cheap agents, the
// load balancer in front of them, as a user runs it (a child process per chat).
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { type Stack, startStack } from '../../src/commands/demo/stack.ts';
import { tmb } from '../proc.ts';
import { chat, EXIT_MS, strangerKey, tempDir, turns } from './chat-proc.ts';

/** Whether swtpm is installed (the stack's hosts then reach L1; .ci/run installs it). */
const SWTPM = ['swtpm', 'swtpm_setup'].every((n) =>
  (process.env.PATH ?? '').split(':').some((d) => d !== '' && existsSync(join(d, n))),
);

test('tmb chat against the demo stack: honest and cheap verdicts, --json, --stream, a conversation, pending, a wrong pinned key, the load balancer', {
  timeout: 600_000,
}, async (t) => {
  if (!SWTPM)
    t.diagnostic('swtpm is not installed (apt-get install swtpm swtpm-tools): the hosts reach L0 only');
  const dir = await tempDir(t);
  // No telemetry: fast. With swtpm the honest host reaches L1 and the cheap one is held at L0.
  const stack: Stack = await startStack({
    model: 'sample-7b',
    latencyMs: 1,
    tpm: SWTPM ? 'swtpm' : 'none',
    telemetry: false,
    log: () => {},
    parent: dir,
  });
  t.after(() => stack.close());
  const keyFile = join(dir, 'verifier-key.json');
  await writeFile(keyFile, await (await fetch(`${stack.verifier.url}/v1/verifier-key`)).text());
  const [honest, cheap] = ['honest', 'cheap'].map((v) => stack.backends.find((b) => b.variant === v)!);
  // With a TPM a quote covers each receipt within a few seconds (the wait ends as soon as one
  // does); without one the verifier keeps the L1 checks pending for 10 s: 2 s shows that.
  const wait = stack.l1 ? '60' : '2';
  const top = stack.l1 ? 'L1' : 'L0';
  const base = ['--verifier', stack.verifier.url, '--verifier-key', keyFile, '--wait', wait];

  await t.test(
    `--json, two turns to the honest agent: ${top}, its name, the model, no failed check`,
    async () => {
      const r = await chat([
        ...['--url', honest!.agentUrl, ...base, '--json', '--expect-level', top],
        ...['--message', 'What is remote attestation?', '--message', 'And a receipt?'],
      ]);
      assert.equal(r.status, 0, r.err);
      const [a, b] = turns(r.out);
      for (const x of [a!, b!]) {
        assert.ok(x.answer.length > 0);
        assert.match(x.receiptId ?? '', /^[0-9a-f]{32}$/);
        assert.deepEqual([x.agent, x.model, x.level, x.ok], ['gpu-honest', 'sample-7b', top, true]);
        assert.deepEqual(x.failed, []);
        assert.match(x.weights ?? '', /^[0-9a-f]{64}$/);
        assert.equal(x.pending, !stack.l1);
      }
      assert.notEqual(a!.receiptId, b!.receiptId);
    },
  );

  await t.test(
    'the cheap agent: held at L0, weights.allowed named failed; --expect-level exits 1',
    async () => {
      const r = await chat([
        ...['--url', cheap!.agentUrl, ...base, '--expect-level', 'L0', '--message', 'Which model are you?'],
      ]);
      assert.equal(r.status, 1, r.err);
      const lines = r.out.trim().split('\n');
      const at = lines.findIndex((l) => l.startsWith('[tmb] level'));
      assert.ok(at > 0, r.out); // the answer first, then the verdict
      assert.match(
        lines[at]!,
        /^\[tmb\] level L0 (NOT OK|pending) \| host gpu-cheap \| model sample-7b \| weights [0-9a-f]{12}… \| receipt [0-9a-f]{32}$/,
      );
      assert.match(lines[at + 1]!, /^\[tmb\] failed: .*weights\.allowed \(WEIGHTS_NOT_ALLOWED\)/);
    },
  );

  await t.test(
    '--stream prints the tokens as they come, then a verdict whose hashes cover the stream',
    async () => {
      const r = await chat([
        '--url',
        `${honest!.agentUrl}/v1/`,
        ...base,
        '--stream',
        '--message',
        'Stream this.',
      ]);
      assert.equal(r.status, 0, r.err);
      const lines = r.out.trim().split('\n');
      const at = lines.findIndex((l) => l.startsWith('[tmb] level'));
      assert.ok(at > 0 && lines.slice(0, at).join('').length > 0, r.out);
      assert.match(lines[at]!, new RegExp(`^\\[tmb\\] level ${top} (ok|pending) \\| host gpu-honest `));
      assert.doesNotMatch(r.out, /\[tmb\] failed/);
      const json = await chat([
        '--url',
        honest!.agentUrl,
        ...base,
        '--stream',
        '--json',
        '--message',
        'Again.',
      ]);
      assert.equal(json.status, 0, json.err);
      const [x] = turns(json.out);
      assert.deepEqual([x!.level, x!.ok, x!.failed], [top, true, []]);
      assert.ok(x!.answer.length > 0);
    },
  );

  await t.test('a conversation on stdin: one turn per line, /quit ends it', async () => {
    const r = await chat(
      ['--url', honest!.agentUrl, ...base, '--json'],
      'Hello.\n\nTell me more.\n/quit\nNot sent.\n',
    );
    assert.equal(r.status, 0, r.err);
    const all = turns(r.out);
    assert.equal(all.length, 2);
    for (const x of all) assert.deepEqual([x.agent, x.level, x.ok], ['gpu-honest', top, true]);
  });

  await t.test(
    '--wait 0: the verdict says pending and how to check later; tmb verify then checks it',
    async () => {
      const r = await chat(['--url', honest!.agentUrl, ...base, '--wait', '0', '--message', 'Quick.']);
      assert.equal(r.status, 0, r.err);
      const later = /check later: tmb verify ([0-9a-f]{32}) --verifier (\S+) --verifier-key (\S+)$/m.exec(
        r.out,
      );
      assert.ok(later, r.out);
      assert.match(r.out, /^\[tmb\] level (none|L0) pending \| /m);
      const v = tmb([
        'verify',
        later[1]!,
        '--verifier',
        later[2]!,
        '--verifier-key',
        later[3]!,
        '--wait',
        '30000',
      ]);
      assert.equal(await v.exited(EXIT_MS), 0, v.out() + v.err());
      assert.match(v.out(), /level L[01] {3}OK/);
    },
  );

  await t.test(
    "a pinned key that is not the verifier's: a warning, every verdict level none (verifier.result failed)",
    async () => {
      const wrong = join(dir, 'wrong-key.json');
      await writeFile(wrong, JSON.stringify(strangerKey()));
      const r = await chat([
        ...['--url', honest!.agentUrl, '--verifier', stack.verifier.url, '--verifier-key', wrong],
        ...['--wait', '2', '--json', '--expect-level', 'L0', '--message', 'Hi.'],
      ]);
      assert.equal(r.status, 1, r.err);
      assert.match(r.err, /serves a key other than/);
      const [x] = turns(r.out);
      assert.equal(x!.level, 'none');
      assert.ok(
        x!.failed.some((c) => c.name === 'verifier.result' && c.code === 'RESULT_INVALID'),
        JSON.stringify(x!.failed),
      );
    },
  );

  // The demo's load balancer (nginx), when this stack has one: the line the demo prints.
  const lb = (stack as { lb?: { url?: string } }).lb?.url;
  await t.test(
    'through the load balancer: each verdict names the host that served it',
    { skip: lb === undefined ? 'no load balancer URL (nginx not installed: apt-get install nginx)' : false },
    async () => {
      const r = await chat([
        ...['--url', lb!, ...base, '--json'],
        ...[
          '--message',
          'One.',
          '--message',
          'Two.',
          '--message',
          'Three.',
          '--message',
          'Four.',
          '--message',
          'Five.',
        ],
      ]);
      const all = turns(r.out);
      assert.equal(all.length, 5, r.err);
      for (const x of all) {
        assert.ok(['gpu-honest', 'gpu-cheap'].includes(x.agent ?? ''), JSON.stringify(x));
        if (x.agent === 'gpu-cheap')
          assert.ok(
            x.failed.some((c) => c.name === 'weights.allowed'),
            JSON.stringify(x.failed),
          );
        else assert.deepEqual([x.level, x.ok], [top, true], JSON.stringify(x.failed));
      }
      assert.equal(r.status, 0, r.err); // no --expect-level: every answer came with a receipt
      assert.ok(all.some((x) => x.agent === 'gpu-honest'));
    },
  );
});
