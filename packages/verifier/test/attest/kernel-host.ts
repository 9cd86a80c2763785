// A scripted host for kernel-log tests: a real swtpm, its AK enrolled at the verifier, an agent
// key bound in the application PCR, and a kernel IMA log written with core's writer and
// extended into PCR 10 with the agent driver, quoted (sha256 PCRs 0-10 and the app PCR) over
// signed checkpoints of receipts pushed to the verifier.
import { sign } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { provisionSwtpm, runTool, type Swtpm, startSwtpm, TpmDriver, tctiString } from '@tmb/agent/tpm';
import {
  concat,
  encodeReceiptBody,
  fromHex,
  type ReceiptBody,
  sha256,
  toBase64Url,
  toHex,
  utf8,
} from '@tmb/core';
import { quoteQualifyingData } from '@tmb/core/host';
import { buildEntry, type EntryFields, entryToBinary, extendDigest, type ImaEntry } from '@tmb/core/ima';
import {
  consistencyProof,
  derEcdsaSignature,
  ecdsaNoteSigner,
  ed25519NoteSigner,
  encodeConsistencyProof,
  formatRunLine,
  type LogRun,
  leafHash,
  MemoryTree,
  type NoteSigner,
  signCheckpoint,
} from '@tmb/core/log';
import { checkpointKeyQualifying, parseAttest } from '@tmb/core/tpm';
import { type RunningVerifier, startVerifier, type VerifierOptions } from '../../src/index.ts';
import { agentTokens, call, enrolBody, newKey, receiptBody, signBody, type TestKey } from '../fixtures.ts';

export const APP_PCR = 15;
export const digestOf = (label: string) => sha256(utf8(label));
export const hexOf = (label: string) => `sha256:${toHex(digestOf(label))}`;

export class ScriptedHost {
  readonly dir: string;
  /** The verifier's URL: set once it runs (it needs this host's EK CA first: see `withVerifier`). */
  url: string;
  readonly agent: string;
  readonly key: TestKey;
  tpm!: Swtpm;
  driver!: TpmDriver;
  #state!: Awaited<ReturnType<typeof provisionSwtpm>>;
  kernel: ImaEntry[] = [];
  app: ImaEntry[] = [];
  bodies: ReceiptBody[] = [];
  quotedSize: number | null = null;
  quotedRun = 0;
  #tpmSigner: NoteSigner | undefined;

  constructor(dir: string, url: string, agent: string) {
    this.dir = dir;
    this.url = url;
    this.agent = agent;
    this.key = newKey(agent);
  }

  /** Provisions and starts the swtpm; returns its EK CA certificates (PEM) for the verifier. */
  async provision(): Promise<string[]> {
    this.#state = await provisionSwtpm(join(this.dir, 'swtpm'));
    await this.#start();
    return [
      await readFile(this.#state.rootCertPath, 'utf8'),
      await readFile(this.#state.issuerCertPath, 'utf8'),
    ];
  }

  async #start(): Promise<void> {
    this.tpm = await startSwtpm(this.#state);
    this.driver = new TpmDriver({ tcti: this.tpm.tcti, workDir: join(this.dir, 'tpm') });
    await this.driver.open();
  }

  /** Enrols the agent key and the AK (credential activation), then binds the key in the app PCR. */
  async enrol(): Promise<void> {
    const r = await call(`${this.url}/v1/agents/enroll`, 'POST', enrolBody(this.key));
    if (r.status !== 200) throw new Error(`enroll ${JSON.stringify(r.json)}`);
    await this.activateAk();
    await this.boot();
    await this.certifyKey();
  }

  /** A new AK enrolled and activated at the verifier, as each start of an agent with a TPM does. */
  async activateAk(): Promise<void> {
    const ak = await this.driver.createAk();
    const e = await call(`${this.url}/v1/attest/enroll`, 'POST', {
      agent: this.agent,
      ekPublic: toBase64Url(await this.driver.readEkPublic()),
      ekCertificate: toBase64Url((await this.driver.readEkCertificate())!),
      akPublic: toBase64Url(ak.public),
      pcr: APP_PCR,
    });
    if (e.status !== 200) throw new Error(`attest enroll ${JSON.stringify(e.json)}`);
    const secret = await this.driver.activateCredential(
      new Uint8Array(Buffer.from(String(e.json.challenge), 'base64url')),
    );
    const a = await call(`${this.url}/v1/attest/activate`, 'POST', {
      agent: this.agent,
      secret: toBase64Url(secret),
    });
    if (a.status !== 200) throw new Error(`activate ${JSON.stringify(a.json)}`);
  }

  /** A TPM-held checkpoint key certified by the AK for this host's receipt key (docs/evidence.md). */
  async certifyKey(): Promise<void> {
    const n = (await call(`${this.url}/v1/attest/nonce`, 'POST', { agent: this.agent })).json;
    const c = await this.driver.createCheckpointKey(
      checkpointKeyQualifying(fromHex(String(n.nonce)), this.agent, this.key.keyId),
    );
    const r = await call(`${this.url}/v1/attest/checkpoint-key`, 'POST', {
      agent: this.agent,
      nonce: n.nonce,
      keyPublic: toBase64Url(c.public),
      certifyInfo: toBase64Url(c.certifyInfo),
      signature: toBase64Url(c.signature),
      receiptKeyId: this.key.keyId,
    });
    if (r.status !== 200) throw new Error(`checkpoint-key ${JSON.stringify(r.json)}`);
    this.#tpmSigner = ecdsaNoteSigner(`tmb/agent/${this.agent}`, c.spki, async (t) => {
      const s = await this.driver.signWithCheckpointKey(t);
      return derEcdsaSignature(s.r, s.s);
    });
  }

  /** A reboot: the swtpm restarts (PCRs reset, resetCount up); both logs start over. */
  async reboot(): Promise<void> {
    // An orderly shutdown first, as an OS does: else the clock is unsafe and the TPM locks out.
    await runTool('tpm2_shutdown', ['-c'], {
      tcti: tctiString(this.tpm.tcti),
      timeoutMs: 10_000,
      cwd: this.dir,
    });
    await this.tpm.stop();
    await this.#start();
    await this.boot();
    await this.certifyKey();
  }

  /** Starts this boot's logs: boot_aggregate and the simulated-kernel event; the key binding. */
  async boot(): Promise<void> {
    this.kernel = [];
    this.app = [];
    const pcrs = await this.driver.pcrRead([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    const aggregate = sha256(concat(...[0, 1, 2, 3, 4, 5, 6, 7, 8, 9].map((i) => pcrs.get(i)!)));
    await this.measure({ digest: aggregate, path: 'boot_aggregate' });
    const buf = utf8('{"simulated":true,"version":1}');
    await this.measure({
      template: 'ima-buf',
      digest: sha256(buf),
      path: 'tmb.simulated-kernel',
      extra: buf,
    });
    const entry = buildEntry(
      {
        pcr: APP_PCR,
        template: 'ima-buf',
        digest: sha256(this.key.raw),
        path: 'tmb.agent-key',
        extra: this.key.raw,
      },
      0,
    );
    this.app.push(entry);
    await this.driver.pcrExtend(APP_PCR, extendDigest(entry, 'sha256'));
  }

  /** Logs one kernel entry, then extends PCR 10, as the kernel does. */
  async measure(fields: EntryFields): Promise<void> {
    const e = buildEntry(fields, this.kernel.length);
    this.kernel.push(e);
    await this.driver.pcrExtend(10, extendDigest(e, 'sha256'));
  }

  /** A file read: path and the digest of `label`. */
  file(path: string, label: string): Promise<void> {
    return this.measure({ digest: digestOf(label), path });
  }

  /** Pushes `n` receipts for `model`; returns their ids. */
  async serve(n: number, model = 'big-model'): Promise<string[]> {
    return (await this.push(n, { model })).bodies.map((b) => b.id);
  }

  /**
   * Appends `n` receipts (served now, as an agent's are: the inclusion deadline runs from a
   * receipt's end) to this host's log and pushes them, except the one at offset `skip` and with a
   * broken signature at offset `corrupt`. Returns them and what the verifier rejected.
   * @throws Error when the push is not answered 200
   */
  async push(
    n: number,
    o: { model?: string; corrupt?: number; skip?: number } = {},
  ): Promise<{ bodies: ReceiptBody[]; rejected: unknown[] }> {
    const model = o.model ?? 'big-model';
    const us = Date.now() * 1000;
    const time = { start: us - 2000, firstByte: us - 1000, end: us };
    const fresh = Array.from({ length: n }, (_, i) =>
      receiptBody(this.key, {
        seq: this.bodies.length + i,
        model: { requested: model, reported: model },
        time,
      }),
    );
    this.bodies.push(...fresh);
    const wire = fresh.map((b, i) => {
      const s = signBody(this.key, b);
      return i === o.corrupt ? { ...s, sig: `${s.sig.slice(0, -4)}AAAA` } : s;
    });
    const r = await call(`${this.url}/v1/receipts`, 'POST', {
      agent: this.agent,
      receipts: wire.filter((_, i) => i !== o.skip),
    });
    if (r.status !== 200) throw new Error(`push ${JSON.stringify(r.json)}`);
    return { bodies: fresh, rejected: r.json.rejected as unknown[] };
  }

  /** One quote round over a checkpoint of every receipt; `edit` may change the body before it is posted. */
  async quote(
    o: {
      telemetryTool?: string | null;
      /** Changes the body before it is quoted (members the quote covers are quoted as changed). */
      edit?: (b: Record<string, unknown>) => void;
      /** Changes the body after it is quoted, as someone between agent and verifier would. */
      tamper?: (b: Record<string, unknown>) => void;
      /** The log run to checkpoint (leaves: the receipts from seq `base`); default run 0. */
      run?: LogRun;
    } = {},
  ): Promise<{ status: number; json: Record<string, unknown> }> {
    const run = o.run ?? { run: 0, base: 0 };
    const tree = new MemoryTree(
      this.bodies.filter((b) => b.seq >= run.base).map((b) => leafHash(encodeReceiptBody(b))),
    );
    const prevSize =
      run.run === this.quotedRun && this.quotedSize !== null && this.quotedSize <= tree.size
        ? this.quotedSize
        : null;
    const origin = `tmb/agent/${this.agent}`;
    const signer = ed25519NoteSigner(
      origin,
      this.key.raw,
      (t) => new Uint8Array(sign(null, t, this.key.privateKey)),
    );
    const size = tree.size;
    const signers = this.#tpmSigner === undefined ? [signer] : [signer, this.#tpmSigner];
    const extensions = run.run === 0 ? [] : [formatRunLine(run)];
    const note = await signCheckpoint({ origin, size, root: tree.root(size), extensions }, signers);
    const n = (await call(`${this.url}/v1/attest/nonce`, 'POST', { agent: this.agent })).json as {
      nonce: string;
      logFrom: number;
      resetCount: number | null;
      kernelFrom: number;
      bootLog: boolean;
    };
    const tool = o.telemetryTool === undefined ? '/usr/bin/nvidia-smi' : o.telemetryTool;
    const nonce = Buffer.from(n.nonce, 'hex');
    const pcrs = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, APP_PCR];
    let q = await this.driver.quote(
      pcrs,
      quoteQualifyingData(nonce, note, { telemetryTool: tool, upstream: null }),
    );
    const rebooted = n.resetCount !== parseAttest(q.attest).clockInfo.resetCount;
    const from = rebooted ? 0 : n.logFrom;
    const kfrom = rebooted ? 0 : n.kernelFrom;
    const body: Record<string, unknown> = {
      agent: this.agent,
      nonce: n.nonce,
      checkpoint: note,
      quote: {
        attest: toBase64Url(q.attest),
        signature: toBase64Url(q.signature),
        pcrs: toBase64Url(q.pcrsFile),
      },
      log: { from, entries: toBase64Url(concat(...this.app.slice(from).map(entryToBinary))) },
      consistency: prevSize === null ? null : encodeConsistencyProof(consistencyProof(tree, prevSize, size)),
      kernel: { from: kfrom, entries: toBase64Url(concat(...this.kernel.slice(kfrom).map(entryToBinary))) },
      boot: null,
      telemetryTool: tool,
    };
    o.edit?.(body);
    if (body.telemetryTool !== tool || body.upstream !== undefined) {
      // The edit changed members the quote covers: quote them as sent, as an agent would (a
      // member with no canonical form cannot be quoted; the verifier refuses it as malformed).
      let qualifying: Uint8Array;
      try {
        qualifying = quoteQualifyingData(nonce, note, {
          telemetryTool: body.telemetryTool,
          upstream: body.upstream,
        });
      } catch {
        qualifying = new Uint8Array(32);
      }
      q = await this.driver.quote(pcrs, qualifying);
      body.quote = {
        attest: toBase64Url(q.attest),
        signature: toBase64Url(q.signature),
        pcrs: toBase64Url(q.pcrsFile),
      };
    }
    o.tamper?.(body);
    const r = await call(`${this.url}/v1/attest/evidence`, 'POST', body);
    if (r.status === 200) {
      this.quotedSize = size;
      this.quotedRun = run.run;
    }
    return r;
  }

  async close(): Promise<void> {
    await this.tpm?.stop();
  }
}

/**
 * A scripted host on its own swtpm and a verifier that trusts that swtpm's CA, in a fresh temp
 * folder: the host is provisioned first (the verifier needs its EK roots), then enrolled.
 * `close` stops both and removes the folder.
 */
export async function withVerifier(
  prefix: string,
  agent: string,
  options: Omit<VerifierOptions, 'dbPath' | 'tokens' | 'tpmRoots'> & { dbPath?: string },
): Promise<{
  dir: string;
  v: RunningVerifier;
  host: ScriptedHost;
  tpmRoots: string[];
  close(): Promise<void>;
}> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  const host = new ScriptedHost(dir, '', agent);
  const tpmRoots = await host.provision();
  const v = await startVerifier({ dbPath: ':memory:', tokens: agentTokens(agent), tpmRoots, ...options });
  host.url = v.url;
  await host.enrol();
  return {
    dir,
    v,
    host,
    tpmRoots,
    close: async () => {
      await host.close();
      await v.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
