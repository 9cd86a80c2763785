/**
 * Debian's nginx as the load balancer of `tmb demo` (several agents, weighted) and as the proxy
 * bench's reverse-proxy baseline: a config generated into a temp folder (the prefix), nginx run
 * in the foreground as a child process (`-g 'daemon off;'`), stopped by its PID and the temp
 * folder removed. One worker, keep-alive to the upstream, buffering off, bounded bodies, timeouts.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { accessSync, constants } from 'node:fs';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';

/** What to tell the user when nginx is not there. */
export const NGINX_INSTALL_HINT = 'apt-get install nginx';

/** Path nginx answers 204 on, without the upstream: how startNginx knows it is up. */
export const NGINX_READY_PATH = '/_nginx_ready';

const START_MS = 10_000;
const STOP_MS = 5_000;
const PORT_TRIES = 5;

/** A running nginx: its URL, its master's PID (also its process group), its temp folder. */
export interface RunningNginx {
  url: string;
  pid: number;
  prefix: string;
  /** The access log's path (`accessLog: true`), else undefined. */
  accessLog: string | undefined;
  /** SIGQUIT, then SIGKILL to its process group after a bound; removes the temp folder. */
  close(): Promise<void>;
}

/** The nginx executable on PATH or in /usr/sbin, or undefined when there is none. */
export function findNginx(): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(delimiter).filter((d) => d !== ''), '/usr/sbin'];
  for (const dir of dirs) {
    const bin = join(dir, 'nginx');
    try {
      accessSync(bin, constants.X_OK);
      return bin;
    } catch {}
  }
  return undefined;
}

/** One upstream server of the load balancer. */
export interface NginxUpstream {
  /** `host:port` of the server (an agent, or a model server for the bench). */
  address: string;
  /** nginx's `weight=` (a positive integer). Default 1. */
  weight?: number;
}

/** What the generated config routes to and how; every field but `upstreams` has a safe default. */
export interface NginxRoutes {
  /** At least one server; nginx spreads requests over them by smooth weighted round-robin. */
  upstreams: NginxUpstream[];
  /**
   * Write one JSON line per request to `<prefix>/access.log`: time, request id, the upstream
   * that served it ($upstream_addr), status, request and upstream times. Default false (the
   * proxy bench measures nginx without the log's cost).
   */
  accessLog?: boolean;
  /**
   * Send nginx's own `$request_id` (32 hex digits) upstream as `x-request-id`, replacing the
   * client's, so that the access log and the agent's receipt name the same request. Default false.
   */
  requestId?: boolean;
  /** Largest request body accepted (`client_max_body_size`), bytes. Default 16 MiB, the agent's. */
  maxBodyBytes?: number;
  /**
   * Seconds nginx waits between two reads from the upstream (`proxy_read_timeout`) and for the
   * client (body, sending). Default 120: a streamed answer may pause between tokens that long.
   */
  timeoutS?: number;
}

/** Default body bound: the agent's own (16 MiB). */
export const NGINX_MAX_BODY_BYTES = 16 * 1024 * 1024;

/** The access log's file name under the prefix (`accessLog: true`). */
export const NGINX_ACCESS_LOG = 'access.log';

/**
 * nginx.conf text: one worker, everything under `prefix`, `listen` proxied to the upstream
 * servers with their weights. One worker keeps the round-robin one sequence (smooth weighted
 * round-robin, as share.ts replays it). A request goes to exactly one server (proxy_next_upstream
 * off) and no failure takes a server out of the rotation (max_fails=0): the share stays the share.
 * Keep-alive to the upstream; response buffering off so that SSE streams token by token.
 * A string `upstream` (host:port) is one server of weight 1.
 * @throws Error when there is no upstream, or a weight is not a positive integer
 */
export function nginxConfig(prefix: string, listenPort: number, upstream: string | NginxRoutes): string {
  const routes: NginxRoutes =
    typeof upstream === 'string' ? { upstreams: [{ address: upstream }] } : upstream;
  if (routes.upstreams.length === 0) throw new Error('nginx: no upstream server');
  const servers = routes.upstreams.map(({ address, weight = 1 }) => {
    if (!Number.isSafeInteger(weight) || weight < 1)
      throw new Error(`nginx: weight ${weight} is not a positive integer`);
    if (!/^[A-Za-z0-9.[\]:-]+$/.test(address)) throw new Error(`nginx: bad upstream address ${address}`);
    return `    server ${address} weight=${weight} max_fails=0;`;
  });
  const at = (name: string) => JSON.stringify(join(prefix, name));
  const timeout = routes.timeoutS ?? 120;
  const log =
    routes.accessLog === true
      ? `  log_format tmb escape=json '{"time":"$time_iso8601","requestId":"$request_id",'
    '"upstream":"$upstream_addr","status":"$status","upstreamStatus":"$upstream_status",'
    '"requestTime":"$request_time","upstreamTime":"$upstream_response_time",'
    '"method":"$request_method","uri":"$uri"}';
  access_log ${at(NGINX_ACCESS_LOG)} tmb;`
      : '  access_log off;';
  return `worker_processes 1;
error_log ${at('error.log')} warn;
pid ${at('nginx.pid')};
events { worker_connections 1024; }
http {
${log}
  client_body_temp_path ${at('client_body')};
  proxy_temp_path ${at('proxy')};
  fastcgi_temp_path ${at('fastcgi')};
  uwsgi_temp_path ${at('uwsgi')};
  scgi_temp_path ${at('scgi')};
  client_max_body_size ${routes.maxBodyBytes ?? NGINX_MAX_BODY_BYTES};
  client_body_timeout ${timeout}s;
  send_timeout ${timeout}s;
  upstream tmb_upstream {
${servers.join('\n')}
    keepalive 64;
  }
  server {
    listen 127.0.0.1:${listenPort};
    location = ${NGINX_READY_PATH} { access_log off; return 204; }
    location / {
      proxy_pass http://tmb_upstream;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
${routes.requestId === true ? '      proxy_set_header X-Request-Id $request_id;\n' : ''}      proxy_buffering off;
      proxy_next_upstream off;
      proxy_connect_timeout 5s;
      proxy_send_timeout ${timeout}s;
      proxy_read_timeout ${timeout}s;
    }
  }
}
`;
}

/** A port on 127.0.0.1 that was free a moment ago (bound with port 0, then closed). */
export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  server.close();
  await once(server, 'close');
  if (address === null || typeof address === 'string') throw new Error('nginx: no port from port 0');
  return address.port;
}

/** A new temp folder for nginx, readable by its worker user (which is not root when run as root). */
export async function makePrefix(): Promise<string> {
  const prefix = await mkdtemp(join(tmpdir(), 'tmb-nginx-'));
  await chmod(prefix, 0o755);
  return prefix;
}

/** Runs `nginx -t` on `conf` under `prefix`; resolves with nginx's output, rejects with it on failure. */
export function testNginxConfig(bin: string, prefix: string, conf: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(bin, ['-t', '-p', prefix, '-c', conf], { timeout: STOP_MS }, (err, stdout, stderr) => {
      const out = `${stdout}${stderr}`;
      if (err) reject(new Error(`nginx -t failed: ${out.trim() || err.message}`));
      else resolve(out);
    });
  });
}

/**
 * Starts nginx in front of `upstream` (one http:// URL, or several servers with weights) and
 * waits until it answers. A port taken between finding it and nginx binding it is retried with
 * another.
 * @throws Error when nginx is missing, the config is refused or it does not answer in 10 s
 */
export async function startNginx(upstream: string | NginxRoutes, bin = findNginx()): Promise<RunningNginx> {
  if (bin === undefined) throw new Error(`nginx: not found on PATH or in /usr/sbin (${NGINX_INSTALL_HINT})`);
  const target = typeof upstream === 'string' ? new URL(upstream).host : upstream;
  const accessLog = typeof upstream !== 'string' && upstream.accessLog === true;
  const prefix = await makePrefix();
  try {
    for (let attempt = 1; ; attempt++) {
      const port = await freePort();
      const conf = join(prefix, 'nginx.conf');
      await writeFile(conf, nginxConfig(prefix, port, target));
      const child = spawn(bin, ['-p', prefix, '-c', conf, '-g', 'daemon off;'], {
        detached: true, // its own process group: a SIGKILL to the group takes the worker too
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      await once(child, 'spawn'); // rejects when it could not be run
      let stderr = '';
      child.stderr!.on('data', (c: Buffer) => {
        stderr += c.toString();
      });
      const url = `http://127.0.0.1:${port}`;
      const up = await waitUntilAnswers(child, url);
      if (up) return running(child, url, prefix, accessLog ? join(prefix, NGINX_ACCESS_LOG) : undefined);
      const log = `${stderr}${await readFile(join(prefix, 'error.log'), 'utf8').catch(() => '')}`;
      await stop(child);
      if (!log.includes('Address already in use') || attempt >= PORT_TRIES)
        throw new Error(`nginx did not start: ${log.trim() || 'no output'}`);
    }
  } catch (err) {
    await rm(prefix, { recursive: true, force: true });
    throw err;
  }
}

function running(
  child: ChildProcess,
  url: string,
  prefix: string,
  accessLog: string | undefined,
): RunningNginx {
  return {
    url,
    pid: child.pid!,
    prefix,
    accessLog,
    close: async () => {
      await stop(child);
      await rm(prefix, { recursive: true, force: true });
    },
  };
}

/** Polls the ready path until nginx answers 204 (true) or exits or the start bound passes (false). */
async function waitUntilAnswers(child: ChildProcess, url: string): Promise<boolean> {
  let exited = child.exitCode !== null || child.signalCode !== null;
  child.once('exit', () => {
    exited = true;
  });
  const deadline = Date.now() + START_MS;
  while (!exited && Date.now() < deadline) {
    if ((await probe(`${url}${NGINX_READY_PATH}`)) === 204) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return false;
}

/** One GET; the status, or 0 when the connection failed. */
function probe(url: string): Promise<number> {
  return new Promise((resolve) => {
    const req = httpRequest(url, { agent: false, timeout: 1_000 }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(0));
    req.end();
  });
}

/** SIGQUIT (graceful) to the master; past the bound, SIGKILL to its whole process group. */
async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGQUIT');
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((r) => {
    timer = setTimeout(() => r('late'), STOP_MS);
  });
  const first = await Promise.race([exited, late]);
  clearTimeout(timer);
  if (first !== 'late') return;
  try {
    process.kill(-child.pid!, 'SIGKILL');
  } catch {}
  await exited;
}
