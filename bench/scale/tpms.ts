/**
 * The scale bench's TPMs: K real swtpm instances, each manufactured (swtpm_setup: EK and EK
 * certificate from a local CA), started, and given, through tpm2-tools as the agent's driver does
 * it, a persistent AK under the EK and a persistent checkpoint key (packages/agent/src/tpm/ckey.ts)
 * whose authValue this process holds. Everything per agent (ActivateCredential, Certify, Sign,
 * Quote) is then a raw command on the swtpm's socket (tpm.ts). With a simulated boot (kernel.ts)
 * the firmware's and kernel's extends are made here too; after setup only PCR 10 changes (the
 * kernel log growing), so one `tpm2_quote -o` PCR file per TPM, with PCR 10 replaced by its value
 * at each quote (kernel.ts withPcr10), serves every quote it makes.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DEFAULT_AK_HANDLE, provisionSwtpm, startSwtpm, TpmDriver, tctiString } from '@tmb/agent/tpm';
import { createCkey } from '../../packages/agent/src/tpm/ckey.ts';
import { runTool, runToolBytes } from '../../packages/agent/src/tpm/exec.ts';
import { type SimBoot, simulateBoot, withPcr10 } from './kernel.ts';
import { TpmSocket } from './tpm.ts';

/** sha256 PCRs every evidence quote selects: 0-9, 10 and the application PCR (docs/evidence.md). */
export const APP_PCR = 15;
export const QUOTE_PCRS = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, APP_PCR];
const EK_HANDLE = 0x81010001;
const CKEY_HANDLE = DEFAULT_AK_HANDLE + 1;

/** What a load worker needs of one TPM (structured-clone safe). */
export interface TpmHost {
  port: number;
  ekHandle: number;
  akHandle: number;
  ekPublic: Uint8Array;
  ekCertificate: Uint8Array;
  akPublic: Uint8Array;
  ckey: { handle: number; auth: Uint8Array; public: Uint8Array; spki: Uint8Array };
  pcrsFile: Uint8Array;
  /** The simulated boot made on this TPM (its logs, PCR 10 after them); null: `--kernel none`. */
  boot: SimBoot | null;
}

/** A started swtpm with its setup, and how to stop it. */
export interface StartedTpm {
  host: TpmHost;
  roots: string[];
  /** The swtpm's process id. */
  pid: number;
  stop: () => Promise<void>;
}

/** Boots the swtpm at 127.0.0.1:`port` (kernel.ts simulateBoot) over one raw connection. */
async function bootTpm(port: number): Promise<SimBoot> {
  const tpm = await TpmSocket.open(port);
  try {
    return await simulateBoot(tpm);
  } finally {
    tpm.close();
  }
}

/**
 * Manufactures and starts one swtpm in `dir` and prepares its AK and checkpoint key; with `boot`,
 * gives it a simulated measured boot (firmware and kernel logs) first.
 * @throws TpmDriverError when swtpm or tpm2-tools are missing or fail
 */
export async function startTpm(dir: string, boot = false): Promise<StartedTpm> {
  const state = await provisionSwtpm(join(dir, 'swtpm'));
  const swtpm = await startSwtpm(state);
  try {
    if (swtpm.tcti.kind !== 'swtpm') throw new Error('expected a TCP swtpm');
    const workDir = join(dir, 'driver');
    const driver = new TpmDriver({ tcti: swtpm.tcti, workDir, akHandle: DEFAULT_AK_HANDLE });
    await driver.open();
    const ekPublic = await driver.readEkPublic();
    const ekCertificate = await driver.readEkCertificate();
    if (ekCertificate === null) throw new Error('the swtpm holds no EK certificate');
    const ak = await driver.createAk();
    const booted = boot ? await bootTpm(swtpm.tcti.port) : null;
    const pcrsFile = (await driver.quote(QUOTE_PCRS, new Uint8Array(32))).pcrsFile;
    // The TPM's own PCR 10 must be the replay of the kernel log made here.
    if (booted !== null) withPcr10(pcrsFile, booted.pcr10, true);
    await driver.close();
    const tcti = tctiString(swtpm.tcti);
    const ckey = await createCkey(
      {
        tool: (name, args, input) => runTool(name, args, { tcti, ...(input ? { input } : {}) }),
        send: (command) => runToolBytes('tpm2_send', [], { tcti, input: command }),
        file: (name) => join(workDir, name),
        flushTransient: async () => {
          await runTool('tpm2_flushcontext', ['-t'], { tcti }).catch(() => undefined);
        },
      },
      CKEY_HANDLE,
    );
    const roots = [await readFile(state.rootCertPath, 'utf8'), await readFile(state.issuerCertPath, 'utf8')];
    return {
      host: {
        port: swtpm.tcti.port,
        ekHandle: EK_HANDLE,
        akHandle: DEFAULT_AK_HANDLE,
        ekPublic,
        ekCertificate,
        akPublic: ak.public,
        ckey: { handle: CKEY_HANDLE, auth: ckey.auth, public: ckey.public, spki: ckey.spki },
        pcrsFile,
        boot: booted,
      },
      roots,
      pid: swtpm.pid,
      stop: swtpm.stop,
    };
  } catch (err) {
    await swtpm.stop();
    throw err;
  }
}
