import assert from 'node:assert/strict';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import { createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  findNginx,
  freePort,
  makePrefix,
  NGINX_INSTALL_HINT,
  nginxConfig,
  startNginx,
  testNginxConfig,
} from '../nginx.ts';

// Not a load test: the proxy bench's nginx baseline starts, proxies one request, and stops clean.
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

test('the generated config passes nginx -t', { skip }, async () => {
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
