import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

// Real server processes for the identification tests: each prints one JSON line `{"port": N}` (or
// `{"path": P}`) when it listens, and is killed by stop().

/** A started server child. */
export interface Served {
  child: ChildProcess;
  ready: { port?: number; path?: string; workers?: number[] };
  stop(): Promise<void>;
}

/** Starts `cmd args` and waits (at most `ms`) for its ready line on stdout. */
export async function serve(cmd: string, args: string[], ms = 15_000): Promise<Served> {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (d) => {
    err += d;
  });
  let workers: number[] = [];
  const stop = async () => {
    for (const pid of workers)
      try {
        process.kill(pid, 'SIGKILL');
      } catch {} // already gone
    if (child.exitCode === null && child.signalCode === null) {
      const exited = once(child, 'exit');
      child.kill('SIGKILL');
      await exited;
    }
  };
  try {
    const ready = await new Promise<Served['ready']>((resolve, reject) => {
      let out = '';
      const timer = setTimeout(
        () => reject(new Error(`${cmd}: no ready line in ${ms} ms; stderr: ${err}`)),
        ms,
      );
      child.stdout!.on('data', (d) => {
        out += d;
        const nl = out.indexOf('\n');
        if (nl < 0) return;
        clearTimeout(timer);
        resolve(JSON.parse(out.slice(0, nl)));
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`${cmd} exited ${code}: ${err}`));
      });
    });
    workers = ready.workers ?? [];
    return { child, ready, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}

/**
 * A node HTTP server on `host` port 0 (or a unix socket at `unixPath`) that holds `files` open
 * (each fd kept for the life of the process; the script is written into `dir`), unlinks `unlink` after opening it, and with
 * `worker` forks a child it hands the listening socket to (two pids then hold it).
 */
let n = 0;
export function nodeServer(
  dir: string,
  o: { host?: string; unixPath?: string; files?: string[]; unlink?: string; worker?: boolean },
): { cmd: string; args: string[] } {
  const script = `
const fs = require('node:fs'), http = require('node:http'), cp = require('node:child_process');
const o = ${JSON.stringify(o)};
if (process.argv[2] === 'worker') {
  process.on('message', (m, server) => { server.on('request', (q, r) => r.end('w')); process.send('ok'); });
  return;
}
globalThis.held = (o.files || []).map((f) => fs.openSync(f, 'r'));
if (o.unlink) { globalThis.held.push(fs.openSync(o.unlink, 'r')); fs.unlinkSync(o.unlink); }
const server = http.createServer((q, r) => r.end('ok'));
const done = (extra) => process.stdout.write(JSON.stringify({ ...(o.unixPath ? { path: o.unixPath } : { port: server.address().port }), ...extra }) + '\\n');
server.listen(o.unixPath ?? { host: o.host, port: 0 }, () => {
  if (!o.worker) return done({});
  const w = cp.fork(__filename, ['worker'], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  w.send('server', server);
  w.once('message', () => done({ workers: [w.pid] }));
});`;
  const file = join(dir, `server-${n++}.cjs`);
  writeFileSync(file, script);
  return { cmd: process.execPath, args: [file] };
}

/** python3's path, or null with why not. */
export function python3(): string | null {
  const r = spawnSync('python3', ['-c', 'import sys; print(sys.executable)'], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : null;
}

/**
 * A TCP server that hands every accepted connection to a forked worker (child.send('socket'),
 * the parent's copy then closed) which greets it with `hello\n`: the listener's holder is not the
 * process that serves the connection.
 */
export function handoffServer(dir: string): { cmd: string; args: string[] } {
  const script = `
const net = require('node:net'), cp = require('node:child_process');
if (process.argv[2] === 'worker') {
  process.on('message', (m, sock) => { sock.resume(); sock.write('hello\\n'); });
  process.send('up');
  return;
}
const w = cp.fork(__filename, ['worker'], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
const server = net.createServer({ pauseOnConnect: true }, (sock) => w.send('socket', sock));
w.once('message', () => server.listen(0, '127.0.0.1', () =>
  process.stdout.write(JSON.stringify({ port: server.address().port, workers: [w.pid] }) + '\\n')));`;
  const file = join(dir, `handoff-${n++}.cjs`);
  writeFileSync(file, script);
  return { cmd: process.execPath, args: [file] };
}

/** A TCP relay on 127.0.0.1 port 0 to 127.0.0.1:`to` (the swap-upstream attack's relay). */
export function relayServer(dir: string, to: number): { cmd: string; args: string[] } {
  const script = `
const net = require('node:net');
const server = net.createServer((c) => { const u = net.connect(${to}, '127.0.0.1'); c.pipe(u).pipe(c); });
server.listen(0, '127.0.0.1', () => process.stdout.write(JSON.stringify({ port: server.address().port }) + '\\n'));`;
  const file = join(dir, `relay-${n++}.cjs`);
  writeFileSync(file, script);
  return { cmd: process.execPath, args: [file] };
}
