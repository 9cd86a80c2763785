// Makes the bundle vectors (docs/bundle.md) from a real run: a swtpm-backed scripted host (the
// verifier tests' ScriptedHost, with a minimal firmware event log in PCRs 0-9) quoted twice by
// a real verifier with a registry and runtime policy; the bundles are the verifier's
// GET /v1/receipts/:id/bundle answers. Run: node_modules/.bin/node packages/client/test/vectors/bundle/make.ts
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { toBase64Url } from '@tmb/core';
import { BootAlg, EventType, measuredEvent, specIdFor, writeEventLog } from '@tmb/core/boot';
import { buildEntry, createPolicy, type ModelRegistry } from '@tmb/core/ima';
import { startVerifier } from '../../../../verifier/src/index.ts';
import { type Bundle, batchBundles } from '../../../src/index.ts';
import { digestOf, hexOf, ScriptedHost } from '../../../../verifier/test/attest/kernel-host.ts';
import { agentTokens } from '../../../../verifier/test/fixtures.ts';

export const REGISTRY: ModelRegistry = {
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

/** A scripted host whose boot first extends a minimal firmware (one EV_SEPARATOR per PCR 0-9). */
class FirmwareHost extends ScriptedHost {
  bootLog: Uint8Array = new Uint8Array(0);

  override async boot(): Promise<void> {
    const spec = specIdFor([BootAlg.SHA256]);
    const events = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9].map((pcr) =>
      measuredEvent(spec, pcr, EventType.EV_SEPARATOR, new Uint8Array(4)),
    );
    for (const e of events) await this.driver.pcrExtend(e.pcr, e.digests[0]!.digest);
    this.bootLog = writeEventLog({ specId: spec, events });
    await super.boot();
  }
}

/** An honest host's reads after boot: node, the agent's files, the engine, big-model's weights, nvidia-smi. */
export async function honest(host: ScriptedHost): Promise<void> {
  await host.file('/usr/bin/node', 'node');
  await host.file('/opt/tmb/packages/agent/src/agent.ts', 'agent.ts');
  await host.file('/opt/tmb/packages/core/src/index.ts', 'core index');
  await host.file('/usr/bin/llama-server', 'llama-server');
  await host.file('/models/big.gguf', 'big weights');
  await host.file('/usr/bin/nvidia-smi', 'nvidia-smi');
}

/** What one run gives: the bundles by receipt seq, the verifier key and the EK roots (PEM). */
export interface BundleRun {
  bundles: unknown[];
  verifierKey: Record<string, unknown>;
  ekRoots: string[];
  /** The bundles again from a second verifier process on the same database (rows survive a restart). */
  reopened: unknown[];
}

/**
 * One run: boot with firmware, honest reads, 3 receipts, a quote (with the boot log), 2 more
 * receipts, a second quote; the bundle of every receipt. `extra` runs before the second quote.
 */
export async function makeBundles(
  extra?: (host: ScriptedHost, url: string, ids: string[]) => Promise<void>,
  /** The evidence `upstream` of the second quote (left out: none). */
  upstream?: unknown,
): Promise<BundleRun> {
  const dir = await mkdtemp(join(tmpdir(), 'tmb-bundle-'));
  const host = new FirmwareHost(dir, '', 'gpu-1');
  const ekRoots = await host.provision();
  const options = {
    dbPath: join(dir, 'verifier.db'),
    tokens: agentTokens('gpu-1'),
    tpmRoots: ekRoots,
    registry: REGISTRY,
    imaPolicy: createPolicy([buildEntry({ digest: digestOf('node'), path: '/usr/bin/node' })]),
  };
  let v = await startVerifier(options);
  try {
    host.url = v.url;
    await host.enrol();
    await honest(host);
    const ids = await host.serve(3);
    const boot = toBase64Url(host.bootLog);
    const first = await host.quote({ edit: (b) => (b.boot = { log: boot }) });
    if (first.status !== 200) throw new Error(`first quote ${JSON.stringify(first.json)}`);
    ids.push(...(await host.serve(2)));
    // A kernel entry between the quotes: the bundle's kernel log joins both quotes' chunks.
    await host.file('/usr/bin/node', 'node');
    await extra?.(host, v.url, ids);
    // The boot log again: after a reboot in `extra` the verifier asks for this boot's.
    const second = await host.quote({
      edit: (b) => {
        b.boot = { log: toBase64Url(host.bootLog) };
        if (upstream !== undefined) b.upstream = upstream;
      },
    });
    if (second.status !== 200) throw new Error(`second quote ${JSON.stringify(second.json)}`);
    const fetchAll = async (url: string) => {
      const out: unknown[] = [];
      for (const id of ids) {
        const r = await fetch(`${url}/v1/receipts/${id}/bundle`);
        if (r.status !== 200) throw new Error(`bundle ${id}: ${r.status} ${await r.text()}`);
        out.push(await r.json());
      }
      return out;
    };
    const bundles = await fetchAll(v.url);
    const verifierKey = (await (await fetch(`${v.url}/v1/verifier-key`)).json()) as Record<string, unknown>;
    await v.close();
    v = await startVerifier(options);
    return { bundles, verifierKey, ekRoots, reopened: await fetchAll(v.url) };
  } finally {
    await host.close();
    await v.close();
    await rm(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const here = dirname(fileURLToPath(import.meta.url));
  const run = await makeBundles();
  // Receipt #3: judged by the second quote, whose previous quoted checkpoint is the first's.
  await writeFile(join(here, 'bundle.json'), `${JSON.stringify(run.bundles[3], null, 1)}\n`);
  await writeFile(join(here, 'bundle-first.json'), `${JSON.stringify(run.bundles[0], null, 1)}\n`);
  // Receipts #3 and #4, judged by the same quote, as one batch.
  const [batch] = batchBundles([run.bundles[3], run.bundles[4]] as Bundle[]);
  await writeFile(join(here, 'batch.json'), `${JSON.stringify(batch, null, 1)}\n`);
  await writeFile(join(here, 'verifier-key.json'), `${JSON.stringify(run.verifierKey, null, 1)}\n`);
  await writeFile(join(here, 'ek-roots.pem'), run.ekRoots.join(''));
  console.log('wrote bundle.json, bundle-first.json, batch.json, verifier-key.json, ek-roots.pem');
}
