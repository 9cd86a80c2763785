import assert from 'node:assert/strict';
import { createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { agentBuild } from '@tmb/agent';
import { demoRegistry, writeDemoWeights } from '@tmb/demo';
import { tempDir } from '../../../../test/fixtures/cleanup.ts';
import { learnPolicy } from '../../src/commands/demo/policy.ts';

// The simulated kernel needs root (fanotify permission events, mount namespaces); CI runs as root.
const root = process.getuid?.() === 0;

/** How late the golden agent's AK activation is answered: under its 10 s verifier timeout. */
const ACTIVATION_DELAY_MS = 8_000;

/**
 * A loaded machine, made deterministic: the golden agent's AK activation answered late, so its
 * first quote comes seconds after its answers. The golden agent drives its TPM with tpm2-tools
 * here (`--tpm-transport tools`): its first quote is then the only step that runs mkfifo, which
 * shows whether the policy was learnt past it (over the resident connection, the default, a
 * quote runs nothing). The policy learnt
 * stopped the golden agent after a fixed 1.5 s and lacked /usr/bin/mkfifo: every demo host then
 * failed host.integrity (IMA_FILE_NOT_IN_POLICY) at its first quote, before any attack.
 */
test('learnPolicy: a golden agent whose first quote comes late still has its quoting path in the policy', {
  skip: root ? false : 'needs root',
}, async (t) => {
  const { dir, closers: c } = await tempDir(t, 'tmb-demo-policy-');
  let delayed = 0;
  const proxy = createServer((req, res) => {
    const forward = () => {
      const up = request(
        `${target}${req.url}`,
        { method: req.method, headers: req.headers, signal: AbortSignal.timeout(30_000) },
        (r) => {
          res.writeHead(r.statusCode ?? 502, r.headers);
          r.pipe(res);
        },
      );
      up.on('error', () => res.destroy());
      req.pipe(up);
    };
    if (req.url?.startsWith('/v1/attest/activate')) {
      delayed++;
      setTimeout(forward, ACTIVATION_DELAY_MS);
    } else forward();
  });
  let target = '';
  // The proxy closes (its open connections cut), then the folder goes (test/fixtures/cleanup.ts).
  c.add(() => {
    const closed = new Promise((r) => proxy.close(() => r(undefined)));
    proxy.closeAllConnections();
    return closed;
  }, 'activation proxy');
  const weights = await writeDemoWeights(dir, 'sample-7b');
  const build = await agentBuild();
  const policy = await learnPolicy({
    root: dir,
    model: 'sample-7b',
    registry: await demoRegistry(weights, [build.digest], { agentManifests: [build.manifest] }),
    weights,
    latencyMs: 0,
    log: () => {},
    tpmTransport: 'tools',
    agentVerifier: async (url) => {
      target = url;
      await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
      return `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
    },
  });
  assert.ok(delayed > 0, 'the golden agent activated its AK through the slow proxy');
  const mkfifo = Object.keys(policy.digests).filter((p) => p.endsWith('/mkfifo'));
  assert.equal(mkfifo.length, 1, `the quoting path's mkfifo is allowed: ${JSON.stringify(mkfifo)}`);
});
