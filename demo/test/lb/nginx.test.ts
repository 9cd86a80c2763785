import assert from 'node:assert/strict';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { AccessLog } from '../../src/lb/access.ts';
import {
  findNginx,
  freePort,
  makePrefix,
  NGINX_INSTALL_HINT,
  nginxConfig,
  startNginx,
  testNginxConfig,
} from '../../src/lb/nginx.ts';
import { cheatWeights, SmoothRoundRobin } from '../../src/lb/share.ts';

// Not a load test: the demo's load balancer and the proxy bench's nginx baseline start, proxy,
// log where each request went, and stop clean.
const bin = findNginx();
const skip = bin === undefined ? `nginx is not installed (${NGINX_INSTALL_HINT})` : false;

/** True while any process is in process group `pgid` (nginx's master leads its own group). */
function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch (err) {
    assert.equal((err as NodeJS.ErrnoException).code, 'ESRCH');
    return false;
  }
}

test('the generated config passes nginx -t: one upstream (the bench)', { skip }, async () => {
  const prefix = await makePrefix();
  try {
    const conf = join(prefix, 'nginx.conf');
    const text = nginxConfig(prefix, await freePort(), '127.0.0.1:9');
    for (const line of ['keepalive 64;', 'proxy_http_version 1.1;', 'proxy_set_header Connection "";'])
      assert.ok(text.includes(line), line);
    assert.match(text, /proxy_buffering off;/);
    assert.match(text, /worker_processes 1;/);
    await writeFile(conf, text);
    assert.match(await testNginxConfig(bin!, prefix, conf), /test is successful/);
  } finally {
    await rm(prefix, { recursive: true, force: true });
  }
});

test('nginx proxies to the upstream; close leaves no process and no temp folder', { skip }, async () => {
  const upstream = createServer((req, res) => {
    req.resume();
    res.end(`upstream saw ${req.method} ${req.url}`);
  });
  upstream.listen(0, '127.0.0.1');
  await once(upstream, 'listening');
  const port = (upstream.address() as AddressInfo).port;
  try {
    const nginx = await startNginx(`http://127.0.0.1:${port}`, bin);
    try {
      assert.ok(existsSync(join(nginx.prefix, 'nginx.conf')));
      assert.ok(groupAlive(nginx.pid));
      const body = await new Promise<string>((resolve, reject) => {
        request(`${nginx.url}/v1/models`, (res) => {
          let text = '';
          res.on('data', (c: Buffer) => {
            text += c.toString();
          });
          res.on('end', () => resolve(text));
        })
          .on('error', reject)
          .end();
      });
      assert.equal(body, 'upstream saw GET /v1/models');
    } finally {
      await nginx.close();
    }
    assert.equal(groupAlive(nginx.pid), false, 'no nginx master or worker left');
    assert.equal(existsSync(nginx.prefix), false, 'temp folder removed');
  } finally {
    upstream.closeAllConnections();
    upstream.close();
  }
});

test('the generated config passes nginx -t: weighted upstreams, access log, request id', {
  skip,
}, async () => {
  const prefix = await makePrefix();
  try {
    const conf = join(prefix, 'nginx.conf');
    const upstreams = [
      { address: '127.0.0.1:9', weight: 2 },
      { address: '127.0.0.1:10', weight: 2 },
      { address: '127.0.0.1:11', weight: 1 },
    ];
    const text = nginxConfig(prefix, await freePort(), { upstreams, accessLog: true, requestId: true });
    for (const line of [
      'server 127.0.0.1:9 weight=2 max_fails=0;',
      'server 127.0.0.1:11 weight=1 max_fails=0;',
      'proxy_set_header X-Request-Id $request_id;',
      'proxy_next_upstream off;',
      'proxy_buffering off;',
      'client_max_body_size 16777216;',
      'proxy_read_timeout 120s;',
    ])
      assert.ok(text.includes(line), line);
    assert.match(text, /access_log "[^"]+access\.log" tmb;/);
    await writeFile(conf, text);
    assert.match(await testNginxConfig(bin!, prefix, conf), /test is successful/);
  } finally {
    await rm(prefix, { recursive: true, force: true });
  }
});

test('a bad weight or address is refused before nginx sees it', () => {
  const routes = (address: string, weight: number) => ({ upstreams: [{ address, weight }] });
  assert.throws(() => nginxConfig('/tmp/x', 1, routes('127.0.0.1:9', 0)), /weight 0/);
  assert.throws(() => nginxConfig('/tmp/x', 1, routes('127.0.0.1:9', 1.5)), /weight 1.5/);
  assert.throws(() => nginxConfig('/tmp/x', 1, routes('127.0.0.1:9; evil', 1)), /bad upstream address/);
  assert.throws(() => nginxConfig('/tmp/x', 1, { upstreams: [] }), /no upstream/);
});

/** An upstream that answers with its own name and the x-request-id it was sent. */
async function named(name: string): Promise<{ server: Server; address: string }> {
  const server = createServer((req, res) => {
    req.resume();
    res.end(JSON.stringify({ name, requestId: req.headers['x-request-id'] }));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, address: `127.0.0.1:${(server.address() as AddressInfo).port}` };
}

function get(url: string): Promise<{ name: string; requestId: string; header: string | undefined }> {
  return new Promise((resolve, reject) => {
    request(url, { method: 'POST' }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => {
        text += c.toString();
      });
      res.on('end', () => resolve(JSON.parse(text)));
    })
      .on('error', reject)
      .end('{}');
  });
}

test('weighted nginx: the access log names the server of each request, in smooth round-robin order', {
  skip,
}, async () => {
  const w = cheatWeights(0.2, 2); // 2 honest hosts and a cheap one: weights 2, 2, 1
  assert.deepEqual(w, { cheap: 1, honest: 2, share: 0.2 });
  const servers = await Promise.all(['honest-1', 'honest-2', 'cheap'].map(named));
  const weights = [w.honest, w.honest, w.cheap];
  try {
    const upstreams = servers.map((s, i) => ({ address: s.address, weight: weights[i]! }));
    const nginx = await startNginx({ upstreams, accessLog: true, requestId: true }, bin);
    try {
      const log = new AccessLog(nginx.accessLog!);
      const rr = new SmoothRoundRobin(upstreams.map((u) => ({ target: u.address, weight: u.weight })));
      const seen: string[] = [];
      for (let i = 0; i < 10; i++) {
        const answer = await get(`${nginx.url}/v1/chat/completions`);
        assert.match(answer.requestId, /^[0-9a-f]{32}$/, 'nginx sent its own request id upstream');
        const entry = await log.find(answer.requestId);
        assert.ok(entry, `no access log line for ${answer.requestId}`);
        // The ground truth (the log) agrees with what the upstream itself says it served.
        const server = servers.find((s) => s.address === entry.upstream);
        assert.equal(server?.address, entry.upstream);
        assert.equal(answer.name, ['honest-1', 'honest-2', 'cheap'][servers.indexOf(server!)]);
        assert.equal(entry.status, '200');
        seen.push(entry.upstream);
        // nginx's one worker picks as the replayed smooth round-robin does.
        assert.equal(entry.upstream, rr.next(), `request ${i}`);
      }
      assert.equal(seen.filter((a) => a === servers[2]!.address).length, 2, 'cheap: 2 of 10');
    } finally {
      await nginx.close();
    }
  } finally {
    for (const s of servers) {
      s.server.closeAllConnections();
      s.server.close();
    }
  }
});

test('cheatWeights: the share rounded to a percent, exact over one period; 0 and 1 leave a side out', () => {
  assert.deepEqual(cheatWeights(0, 2), { cheap: 0, honest: 1, share: 0 });
  assert.deepEqual(cheatWeights(1, 3), { cheap: 1, honest: 0, share: 1 });
  assert.deepEqual(cheatWeights(0.5, 1), { cheap: 1, honest: 1, share: 0.5 });
  assert.deepEqual(cheatWeights(0.333, 2), { cheap: 66, honest: 67, share: 0.33 });
  for (const [share, hosts] of [
    [0.2, 2],
    [0.07, 5],
    [0.5, 3],
    [0.999, 1],
  ] as const) {
    const w = cheatWeights(share, hosts);
    const rr = new SmoothRoundRobin([
      ...Array.from({ length: hosts }, (_, i) => ({ target: `h${i}`, weight: w.honest })),
      { target: 'cheap', weight: w.cheap },
    ]);
    const period = w.cheap + hosts * w.honest;
    const picks = Array.from({ length: period }, () => rr.next());
    assert.equal(picks.filter((p) => p === 'cheap').length / period, w.share, `${share} over ${hosts}`);
  }
  assert.throws(() => cheatWeights(1.2, 2), RangeError);
  assert.throws(() => cheatWeights(Number.NaN, 2), RangeError);
  assert.throws(() => cheatWeights(0.2, 0), RangeError);
  assert.throws(() => new SmoothRoundRobin([{ target: 'x', weight: 0 }]), RangeError);
});
