// `tmb chat` as a user runs it (a child process): to a sample server with no agent in front (no
// receipt), to servers that are not OpenAI ones, and, in process, its usage errors and the key
// files it refuses; the fetch that lets a verdict's telemetry settle. Against a demo stack's
// agents and load balancer: chat-stack.test.ts.
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { type GenerationEvent, startSampleServer } from '@tmb/demo';
import { samplesPending, settlingFetch } from '../../src/commands/chat-settle.ts';
import { main } from '../../src/main.ts';
import { capture } from '../io.ts';
import { chat, closedPort, fixedServer, strangerKey, tempDir, turns } from './chat-proc.ts';

test('tmb chat to a sample server with no agent: the answer, then NO RECEIPT (RECEIPT_HEADER_MISSING), exit 1; history is kept', {
  timeout: 300_000,
}, async (t) => {
  const events: GenerationEvent[] = [];
  const sample = await startSampleServer({
    model: 'sample-7b',
    tokenLatencyMs: 0,
    onGeneration: (e) => events.push(e),
  });
  t.after(() => sample.close());
  // A verifier is still asked for its key first: a fixed one answers that route.
  const dir = await tempDir(t);
  const keyFile = join(dir, 'key.json');
  const key = strangerKey();
  await writeFile(keyFile, JSON.stringify(key));
  const verifier = await fixedServer(t, 200, 'application/json', JSON.stringify(key));
  const r = await chat(
    ['--url', sample.url, '--verifier', verifier, '--verifier-key', keyFile],
    'First.\nSecond.\n',
  );
  assert.equal(r.status, 1, r.err);
  assert.equal(r.out.match(/^\[tmb\] level none: NO RECEIPT \(RECEIPT_HEADER_MISSING\)/gm)?.length, 2, r.out);
  // The second request carried the first question and answer too.
  assert.equal(events.length, 2);
  assert.ok(events[1]!.promptTokens > events[0]!.promptTokens, JSON.stringify(events));
  const json = await chat([
    ...['--url', sample.url, '--verifier', verifier, '--verifier-key', keyFile, '--json'],
    ...['--model', 'sample-7b', '--message', 'Hi.'],
  ]);
  assert.equal(json.status, 1);
  const [x] = turns(json.out);
  assert.deepEqual([x!.receiptId, x!.level, x!.failed[0]?.code], [null, 'none', 'RECEIPT_HEADER_MISSING']);
});

test('tmb chat: unreachable provider or verifier, an answer that is not OpenAI: named errors, exit 1, no stack trace', async (t) => {
  const dir = await tempDir(t);
  const keyFile = join(dir, 'key.json');
  const key = strangerKey();
  await writeFile(keyFile, JSON.stringify(key));
  const verifier = await fixedServer(t, 200, 'application/json', JSON.stringify(key));
  const nobody = await closedPort();
  const run = (url: string, v: string, more: string[] = []) =>
    chat(['--url', url, '--verifier', v, '--verifier-key', keyFile, '--message', 'Hi.', ...more]);

  const noVerifier = await run(nobody, nobody);
  assert.equal(noVerifier.status, 1);
  assert.match(
    noVerifier.err,
    /^tmb chat: VERIFIER_UNREACHABLE: cannot reach the verifier at .*ECONNREFUSED/,
  );
  const noProvider = await run(nobody, verifier, ['--model', 'm']);
  assert.equal(noProvider.status, 1);
  assert.match(noProvider.err, /^tmb chat: CLI_IO_FAILED: cannot reach the provider at .*ECONNREFUSED/);
  const noList = await run(nobody, verifier);
  assert.match(noList.err, /CLI_IO_FAILED: cannot reach the provider/);
  const html = await fixedServer(t, 200, 'text/html', '<html>hello</html>');
  const notOpenAi = await run(html, verifier, ['--model', 'm', '--json']);
  assert.equal(notOpenAi.status, 1);
  const err = JSON.parse(notOpenAi.out) as { error: { code: string; message: string } };
  assert.equal(err.error.code, 'CLI_FAILED');
  assert.match(err.error.message, /did not answer as an OpenAI-compatible server/);
  const refused = await run(
    await fixedServer(t, 404, 'application/json', '{"error":{"message":"no"}}'),
    verifier,
    ['--model', 'm'],
  );
  assert.match(refused.err, /CLI_FAILED: the provider at .* answered HTTP 404/);
  for (const r of [noVerifier, noProvider, noList, notOpenAi, refused])
    assert.doesNotMatch(r.err, /\n\s+at /);
});

test('tmb chat: usage errors exit 2; key files that are not a P-256 public JWK are refused by name', async (t) => {
  const dir = await tempDir(t);
  const file = async (name: string, text: string | Uint8Array) => {
    await writeFile(join(dir, name), text);
    return join(dir, name);
  };
  const good = await file('good.json', JSON.stringify(strangerKey()));
  const flags = ['--url', 'http://127.0.0.1:9', '--verifier', 'http://127.0.0.1:9'];
  const usage = async (argv: string[], message: RegExp) => {
    const io = capture();
    assert.equal(await main(['chat', ...argv], io), 2, `${argv.join(' ')}: ${io.out}${io.err}`);
    assert.match(io.err, message);
    assert.equal(io.out, '');
  };
  await usage(['--verifier', 'http://x', '--verifier-key', good], /--url URL is required/);
  await usage(['--url', 'http://x', '--verifier-key', good], /--verifier URL is required/);
  await usage(flags, /--verifier-key FILE is required/);
  await usage([...flags, '--verifier-key', good, '--wait', 'soon'], /--wait must be/);
  await usage([...flags, '--verifier-key', good, '--expect-level', 'L9'], /--expect-level is one of L0/);
  await usage(
    ['--url', 'ftp://x', '--verifier', 'http://x', '--verifier-key', good],
    /--url must be an http/,
  );
  await usage(['--url', 'http://u:p@x', '--verifier', 'http://x', '--verifier-key', good], /no credentials/);
  await usage([...flags, '--verifier-key', good, '--token-file', join(dir, 'none')], /ENOENT/);
  await usage(
    [...flags, '--verifier-key', good, '--token-file', await file('t', 'a\nb\n')],
    /more than one line/,
  );
  // Negative vectors for the key file: each named, each exit 2, before any network call.
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const ed = generateKeyPairSync('ed25519').publicKey.export({ format: 'jwk' });
  const offCurve = { ...strangerKey(), y: strangerKey().y };
  const vectors: Array<[string, string | Uint8Array, RegExp]> = [
    ['missing', '', /ENOENT/],
    ['not-json', 'not json', /not JSON/],
    ['array', '[]', /not a JWK object/],
    ['private', JSON.stringify(privateKey.export({ format: 'jwk' })), /holds a private key/],
    ['ed25519', JSON.stringify(ed), /not an EC P-256 public JWK/],
    ['p384', JSON.stringify({ ...strangerKey(), crv: 'P-384' }), /not an EC P-256 public JWK/],
    ['off-curve', JSON.stringify(offCurve), /not a valid P-256 public key/],
    ['binary', new Uint8Array([0xff, 0xfe, 0x00]), /not UTF-8|not JSON/],
    ['huge', 'x'.repeat((64 << 10) + 1), /larger than 65536 bytes/],
  ];
  for (const [name, text, message] of vectors) {
    const path = name === 'missing' ? join(dir, 'missing.json') : await file(`${name}.json`, text);
    await usage(
      [...flags, '--verifier-key', path],
      new RegExp(`--verifier-key ${path}: .*${message.source}`),
    );
  }
  // --json: one error object on stdout, still exit 2.
  const io = capture();
  assert.equal(await main(['chat', ...flags, '--verifier-key', join(dir, 'missing.json'), '--json'], io), 2);
  assert.equal(JSON.parse(io.out).error.code, 'CLI_USAGE');
  const help = capture();
  assert.equal(await main(['chat', '--help'], help), 0);
  assert.match(help.out, /usage: tmb chat --url URL --verifier URL --verifier-key FILE/);
});

test('settlingFetch asks the verifier again while the samples around an answer are on their way, within --wait only', async () => {
  const verifier = 'http://127.0.0.1:9';
  const id = '0123456789abcdef0123456789abcdef';
  const answer = (detail: string, status = 'skipped') =>
    new Response(
      JSON.stringify({ verdict: { checks: [{ name: 'telemetry.consistent', status, detail }] } }),
      {
        headers: { 'content-type': 'application/json' },
      },
    );
  const waiting =
    'insufficient telemetry for profile x: no-samples-around-window (samples after the end may not have arrived yet)';
  let calls = 0;
  const base = (async () => {
    calls++;
    return calls < 3 ? answer(waiting) : answer('log-likelihood 1.0 vs threshold 0.5', 'pass');
  }) as unknown as typeof fetch;
  const settled = await settlingFetch(verifier, 60_000, base)(`${verifier}/v1/receipts/${id}?wait=0`);
  assert.equal(calls, 3);
  assert.match(await settled.text(), /"status":"pass"/);
  // --wait 0: the first answer, as it is.
  calls = 0;
  const first = await settlingFetch(verifier, 0, base)(new URL(`${verifier}/v1/receipts/${id}`));
  assert.equal(calls, 1);
  assert.equal(samplesPending(new Uint8Array(await first.arrayBuffer())), true);
  // Other requests (the provider's, the verifier's other routes) and errors pass untouched.
  const other = new Response('x', { status: 404 });
  const passthrough = (async () => other) as unknown as typeof fetch;
  assert.equal(
    await settlingFetch(verifier, 60_000, passthrough)('http://127.0.0.1:8/v1/chat/completions'),
    other,
  );
  assert.equal(await settlingFetch(verifier, 60_000, passthrough)(`${verifier}/v1/receipts/${id}`), other);
  // A verdict that is not JSON, or has no such check, is not waited on.
  assert.equal(samplesPending(new TextEncoder().encode('<html>')), false);
  assert.equal(samplesPending(new TextEncoder().encode('{"verdict":{"checks":[]}}')), false);
});
