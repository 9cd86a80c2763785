/**
 * Hosts one server of a benchmark in its own thread (its own event loop), so the load generator,
 * the agent and the sample model server do not share one loop and the figures compare what a
 * deployment compares. Started by bench/servers.ts; not a benchmark itself.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { startAgent } from '@tmb/agent';
import { startSampleServer } from '@tmb/demo';

export type WorkerJob =
  | { kind: 'sample'; model: string }
  | { kind: 'agent'; upstream: string; dataDir: string; name: string };

const job = workerData as WorkerJob;
const running =
  job.kind === 'sample'
    ? await startSampleServer({ model: job.model, tokenLatencyMs: 0 })
    : await startAgent({ upstream: job.upstream, dataDir: job.dataDir, name: job.name }, () => {});
parentPort!.postMessage({ url: running.url });
parentPort!.once('message', async () => {
  await running.close();
  parentPort!.postMessage({ closed: true });
});
