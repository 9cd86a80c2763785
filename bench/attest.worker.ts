/**
 * Hosts bench/attest.bench.ts's verifier and fake model server in their own thread, so the
 * agent under test does not share its event loop with them. Not a benchmark itself.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parentPort, workerData } from 'node:worker_threads';
import { startVerifier } from '@tmb/verifier';

const job = workerData as { dbPath: string; token: string; agent: string; roots: string[] };
const upstream = createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(
      '{"model":"sample-bench","choices":[{"message":{"content":"ok"}}],"usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4}}',
    );
  });
});
await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
const verifier = await startVerifier({
  dbPath: job.dbPath,
  tokens: [{ token: job.token, agent: job.agent }],
  tpmRoots: job.roots,
});
parentPort!.postMessage({
  verifier: verifier.url,
  upstream: `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`,
});
parentPort!.once('message', async () => {
  await verifier.close();
  await new Promise<void>((r) => upstream.close(() => r()));
  parentPort!.postMessage({ closed: true });
});
