/**
 * The soak bench's sample model server in its own thread, with a token latency (bench/worker.ts
 * runs it at 0): posts `{ url }` when it listens and, told 'close', closes and posts again.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { startSampleServer } from '@tmb/demo';

const { model, tokenLatencyMs } = workerData as { model: string; tokenLatencyMs: number };
const running = await startSampleServer({ model, tokenLatencyMs });
parentPort!.postMessage({ url: running.url });
parentPort!.once('message', async () => {
  await running.close();
  parentPort!.postMessage({ closed: true });
});
