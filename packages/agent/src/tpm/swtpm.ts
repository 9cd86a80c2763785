import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { join, resolve } from 'node:path';
import { TpmDriverError } from './errors.ts';
import { runTool } from './exec.ts';
import { freePortPair } from './ports.ts';
import type { TctiConfig } from './tcti.ts';

/** Where a provisioned swtpm keeps its files, all under one state folder (nothing in /etc). */
export interface SwtpmState {
  stateDir: string;
  /** The TPM's own state (`tpm2-00.permall`). */
  tpmDir: string;
  /** swtpm_localca's root CA certificate (PEM): the EK chain's trust root in development. */
  rootCertPath: string;
  /** swtpm_localca's intermediate (issuer) certificate (PEM). */
  issuerCertPath: string;
}

/**
 * Manufactures an swtpm in `stateDir` unless already done: `swtpm_setup --tpm2 --create-ek-cert
 * --create-platform-cert` with a local CA whose configuration and keys live in `stateDir/ca`.
 * The result has an RSA-2048 EK at persistent handle 0x81010001 with its certificate in NV index
 * 0x01c00002, an ECC P-384 EK at 0x81010016 (certificate 0x01c00016), and the SHA-256 PCR bank only.
 * @throws TpmDriverError TPM_UNAVAILABLE (swtpm-tools missing), TPM_TOOL_FAILED
 */
export async function provisionSwtpm(stateDir: string): Promise<SwtpmState> {
  const dir = resolve(stateDir);
  const tpmDir = join(dir, 'tpm');
  const caDir = join(dir, 'ca');
  const state: SwtpmState = {
    stateDir: dir,
    tpmDir,
    rootCertPath: join(caDir, 'swtpm-localca-rootca-cert.pem'),
    issuerCertPath: join(caDir, 'issuercert.pem'),
  };
  if (existsSync(join(tpmDir, 'tpm2-00.permall'))) return state;
  await mkdir(tpmDir, { recursive: true });
  await mkdir(caDir, { recursive: true });
  const caConf = join(dir, 'swtpm-localca.conf');
  const caOpts = join(dir, 'swtpm-localca.options');
  const setupConf = join(dir, 'swtpm_setup.conf');
  await writeFile(
    caConf,
    `statedir = ${caDir}\nsigningkey = ${caDir}/signkey.pem\nissuercert = ${caDir}/issuercert.pem\ncertserial = ${caDir}/certserial\n`,
  );
  await writeFile(caOpts, '--platform-manufacturer TMB\n--platform-version 2.1\n--platform-model swtpm\n');
  await writeFile(
    setupConf,
    `create_certs_tool = swtpm_localca\ncreate_certs_tool_config = ${caConf}\ncreate_certs_tool_options = ${caOpts}\nactive_pcr_banks = sha256\n`,
  );
  await runTool(
    'swtpm_setup',
    [
      '--tpm2',
      '--tpm-state',
      tpmDir,
      '--create-ek-cert',
      '--create-platform-cert',
      '--config',
      setupConf,
      '--overwrite',
    ],
    { timeoutMs: 60_000 },
  );
  return state;
}

/** A running swtpm, started and stopped by this process. */
export interface Swtpm {
  pid: number;
  tcti: TctiConfig;
  /** Stops it (SIGTERM, then SIGKILL after 3 s) and waits for it to exit. */
  stop: () => Promise<void>;
}

function reachable(t: TctiConfig): Promise<boolean> {
  return new Promise((ok) => {
    const s =
      t.kind === 'swtpm' ? connect(t.port, t.host ?? '127.0.0.1') : connect(t.kind === 'unix' ? t.path : '');
    s.once('connect', () => {
      s.destroy();
      ok(true);
    });
    s.once('error', () => ok(false));
  });
}

/**
 * Starts `swtpm socket --tpm2 --flags not-need-init,startup-clear` on a provisioned state,
 * over TCP on 127.0.0.1 (two consecutive free ports: the TCTI's control port is port + 1) or on
 * a Unix socket `stateDir/swtpm.sock` (control socket beside it, `.ctrl`). Resolves once it accepts
 * connections.
 * @throws TpmDriverError SWTPM_FAILED when it exits or is not listening within `timeoutMs` (5,000)
 */
export async function startSwtpm(
  state: SwtpmState,
  opts: { transport?: 'tcp' | 'unix'; timeoutMs?: number } = {},
): Promise<Swtpm> {
  let tcti: TctiConfig;
  let server: string;
  let ctrl: string;
  if (opts.transport === 'unix') {
    const path = join(state.stateDir, 'swtpm.sock');
    tcti = { kind: 'unix', path };
    server = `type=unixio,path=${path}`;
    ctrl = `type=unixio,path=${path}.ctrl`;
  } else {
    const port = await freePortPair();
    tcti = { kind: 'swtpm', host: '127.0.0.1', port };
    server = `type=tcp,port=${port},bindaddr=127.0.0.1`;
    ctrl = `type=tcp,port=${port + 1},bindaddr=127.0.0.1`;
  }
  const args = ['socket', '--tpm2', '--tpmstate', `dir=${state.tpmDir}`, '--server', server, '--ctrl', ctrl];
  const child: ChildProcess = spawn('swtpm', [...args, '--flags', 'not-need-init,startup-clear'], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  let dead = false;
  child.once('error', () => {
    dead = true;
  });
  void exited.then(() => {
    dead = true;
  });
  const deadline = Date.now() + (opts.timeoutMs ?? 5_000);
  while (!(await reachable(tcti))) {
    if (dead || Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new TpmDriverError('SWTPM_FAILED', `swtpm did not start: ${stderr.trim() || 'not listening'}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  const stop = async () => {
    if (dead) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 3_000);
    await exited;
    clearTimeout(timer);
  };
  return { pid: child.pid!, tcti, stop };
}
