// End to end on real parts: the openai client -> verified fetch -> the real agent (@tmb/agent)
// -> a tiny inline model server; the agent pushes to the real verifier; the client checks.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { type RunningAgent, startAgent } from '@tmb/agent';
import { createVerifiedFetch } from '@tmb/client';
import { type RunningVerifier, startVerifier } from '@tmb/verifier';
import OpenAI from 'openai';
import { listen, stop } from './fake-agent.ts';

const TOKEN = 'e2e-agent-token-0123456789';
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

// What the upstream received and sent, byte for byte, recorded here independently of the product.
const seen: { request: Buffer; response: Buffer }[] = [];

async function readAll(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

const upstream = createServer(async (req, res) => {
  const request = await readAll(req);
  const { model, stream } = JSON.parse(request.toString()) as { model: string; stream?: boolean };
  const parts = stream
    ? ['Hi', ' from', ' upstream']
        .map(
          (w) =>
            `data: ${JSON.stringify({ id: 'c', object: 'chat.completion.chunk', created: 1, model, choices: [{ index: 0, delta: { content: w }, finish_reason: null }] })}\n\n`,
        )
        .concat('data: [DONE]\n\n')
    : [
        JSON.stringify({
          id: 'c',
          object: 'chat.completion',
          created: 1,
          model,
          choices: [
            { index: 0, message: { role: 'assistant', content: 'Hi from upstream' }, finish_reason: 'stop' },
          ],
          usage: { prompt_tokens: 1, completion_tokens: 3, total_tokens: 4 },
        }),
      ];
  res.writeHead(200, { 'content-type': stream ? 'text/event-stream' : 'application/json' });
  for (const p of parts) res.write(p);
  res.end();
  seen.push({ request, response: Buffer.from(parts.join('')) });
});

let dir: string;
let verifier: RunningVerifier;
let agent: RunningAgent;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tmb-client-e2e-'));
  const upstreamUrl = await listen(upstream);
  verifier = await startVerifier({ dbPath: ':memory:', tokens: [{ token: TOKEN, agent: 'e2e-1' }] });
  agent = await startAgent(
    { upstream: upstreamUrl, dataDir: dir, name: 'e2e-1', verifier: { url: verifier.url, token: TOKEN } },
    () => {},
  );
});
after(async () => {
  await agent.close();
  await verifier.close();
  await stop(upstream);
  await rm(dir, { recursive: true });
});

test('through the real agent, streamed and not, the client reaches L0 with every hash matching', async () => {
  const tmb = createVerifiedFetch({
    verifierUrl: verifier.url,
    waitMs: 10_000,
    verifierKey: (await (await fetch(`${verifier.url}/v1/verifier-key`)).json()) as JsonWebKey,
  });
  const openai = new OpenAI({
    baseURL: `${agent.url}/v1`,
    apiKey: 'sk-test',
    fetch: tmb.fetch,
    maxRetries: 0,
  });

  const plain = await openai.chat.completions
    .create({ model: 'sample-7b', messages: [{ role: 'user', content: 'hello' }] })
    .withResponse();
  assert.equal(plain.data.choices[0]?.message.content, 'Hi from upstream');
  const r1 = await tmb.verify(plain.response);
  assert.equal(r1.ok, true, JSON.stringify(r1.checks.filter((c) => c.status === 'fail')));
  assert.equal(r1.level, 'L0');
  assert.equal(r1.body?.request.sha256, sha256(seen[0]!.request));
  assert.equal(r1.body?.response.sha256, sha256(seen[0]!.response));
  // Receipt v2: the real agent put this client's nonce in the receipt, and the client checked it.
  assert.equal(r1.body?.v, 2);
  assert.equal(r1.checks.find((c) => c.name === 'client.nonce')?.status, 'pass');
  assert.equal(r1.checks.find((c) => c.name === 'verifier.binding')?.status, 'pass');

  const streamed = await openai.chat.completions
    .create({ model: 'sample-7b', messages: [{ role: 'user', content: 'hello' }], stream: true })
    .withResponse();
  let text = '';
  for await (const chunk of streamed.data) text += chunk.choices[0]?.delta.content ?? '';
  assert.equal(text, 'Hi from upstream');
  const r2 = await tmb.verify(streamed.response);
  assert.equal(r2.ok, true, JSON.stringify(r2.checks.filter((c) => c.status === 'fail')));
  assert.equal(r2.level, 'L0');
  assert.equal(r2.body?.response.sha256, sha256(seen[1]!.response));
  assert.equal(r2.body?.response.stream, true);
  assert.equal(r2.checks.find((c) => c.name === 'verifier.result')?.status, 'pass');
});
