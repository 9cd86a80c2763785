// The whole attestation flow through a load balancer: a real agent on a real swtpm talks to two
// verifier instances on one PostgreSQL database through a round-robin proxy, so its AK enrolment
// and activation, nonces and evidence, key enrolment and receipt pushes land on either; its
// receipts still reach L1, read from either verifier.
import assert from 'node:assert/strict';
import { createServer, request as httpRequest, type Server } from 'node:http';
import { after, before, test } from 'node:test';
import { L0_CHECKS, L1_CHECKS } from '@tmb/core';
import { type RunningVerifier, startVerifier } from '@tmb/verifier';
import { type PgServer, pgSkip, startPg } from '../../../../test/fixtures/pg.ts';
import { type AttestedHost, startAttestedHost } from '../../../agent/test/fixtures/host.ts';

const tokenOf = (agent: string) => `pg-attested-token-0123456789-${agent}`;
const skip = pgSkip();
let pg: PgServer | undefined;
let host: AttestedHost | undefined;
before(async () => {
  if (skip !== false) return;
  pg = await startPg();
  host = await startAttestedHost({ prefix: 'tmb-pg-attested-', agents: ['lb-1'], tokenOf });
});
after(async () => {
  await host?.close();
  await pg?.close();
});

/** A round-robin HTTP proxy over `targets` (each request to the next); counts what each got. */
async function roundRobin(targets: string[]): Promise<{ url: string; counts: number[]; server: Server }> {
  const counts = targets.map(() => 0);
  let next = 0;
  const server = createServer((req, res) => {
    const i = next++ % targets.length;
    counts[i]!++;
    const up = httpRequest(
      new URL(req.url ?? '/', targets[i]),
      { method: req.method, headers: req.headers, timeout: 60_000 },
      (r) => {
        res.writeHead(r.statusCode ?? 502, r.headers);
        r.pipe(res);
      },
    );
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return { url: `http://127.0.0.1:${port}`, counts, server };
}

test('an agent behind a round-robin balancer over two PostgreSQL verifiers reaches L1', {
  skip,
}, async (t) => {
  const databaseUrl = await pg!.newDatabase();
  const start = () =>
    startVerifier({
      dbPath: ':memory:',
      databaseUrl,
      tokens: [{ token: tokenOf('lb-1'), agent: 'lb-1' }],
      tpmRoots: host!.roots,
      rateLimit: false,
    });
  const verifiers: RunningVerifier[] = [await start(), await start()];
  t.after(() => Promise.all(verifiers.map((v) => v.close())));
  const lb = await roundRobin(verifiers.map((v) => v.url));
  t.after(() => new Promise((r) => lb.server.close(r)));
  const agent = await host!.agent('lb-1', 11, { verifier: { url: lb.url, token: tokenOf('lb-1') } });
  t.after(() => agent.close());
  const ids: string[] = [];
  for (let i = 0; i < 4; i++) {
    const res = await fetch(`${agent.url}/v1/chat/completions`, { method: 'POST', body: '{"model":"m"}' });
    await res.arrayBuffer();
    ids.push(res.headers.get('tmb-receipt-id') ?? '');
  }
  const deadline = Date.now() + 60_000;
  while ((agent.attester.quoted?.size ?? -1) < ids.length) {
    assert.ok(Date.now() < deadline, 'no quoted checkpoint covering every receipt within 60 s');
    await new Promise((r) => setTimeout(r, 100));
  }
  const needed = new Set<string>([...L0_CHECKS, ...L1_CHECKS]);
  for (const id of ids) {
    const verdicts = await Promise.all(
      verifiers.map(async (v) => {
        const r = await fetch(`${v.url}/v1/receipts/${id}?wait=10000`);
        assert.equal(r.status, 200);
        return (
          (await r.json()) as { verdict: { level: string; checks: { name: string; status: string }[] } }
        ).verdict;
      }),
    );
    for (const v of verdicts) {
      assert.deepEqual(
        v.checks.filter((c) => needed.has(c.name) && c.status !== 'pass'),
        [],
      );
      assert.equal(v.level, 'L1');
    }
  }
  assert.ok(
    lb.counts.every((n) => n > 2),
    `both verifiers served the agent: ${lb.counts}`,
  );
});
