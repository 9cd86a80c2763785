import { toBase64Url } from '@tmb/core';
import type { JsonValue, Sample } from '@tmb/stats';
import { VerifierError } from '../errors.ts';
import { asObject } from '../http/body.ts';
import { type ChainOutcome, checkChain, head32, type PushedBatch } from './chain.ts';
import type { TelemetryStore } from './store.ts';

/** Most batches in one push, and samples in one batch (a batch a second at 10 Hz is 10). */
export const MAX_PUSH_BATCHES = 100;
export const MAX_BATCH_SAMPLES = 20_000;

/** Numeric sample fields: each, when present, a finite number. */
const NUMERIC = [
  't',
  'gpu',
  'toolTime',
  'powerW',
  'powerInstantW',
  'energyJ',
  'utilGpu',
  'utilMem',
  'memUsedMiB',
  'smClockMHz',
  'memClockMHz',
  'tempC',
] as const;

/** GPU identity fields: each, when present, a string of 1 to MAX_IDENTITY characters (docs/telemetry.md). */
const IDENTITY = ['uuid', 'name'] as const;
export const MAX_IDENTITY = 256;

function sample(v: unknown, where: string): Sample {
  const o = asObject(v, where);
  for (const k of IDENTITY) {
    const x = o[k];
    if (x !== undefined && (typeof x !== 'string' || x.length === 0 || x.length > MAX_IDENTITY))
      throw new VerifierError(
        'BODY_MALFORMED',
        `${where}.${k} must be a string of 1-${MAX_IDENTITY} characters`,
      );
  }
  for (const k of NUMERIC) {
    const x = o[k];
    if (x === undefined && k !== 't') continue;
    if (typeof x !== 'number' || !Number.isFinite(x))
      throw new VerifierError('BODY_MALFORMED', `${where}.${k} must be a finite number`);
  }
  const gpu = o.gpu as number | undefined;
  if (gpu !== undefined && !(Number.isInteger(gpu) && gpu >= 0 && gpu < 1024))
    throw new VerifierError('BODY_MALFORMED', `${where}.gpu must be a GPU index`);
  return o as unknown as Sample;
}

/** Parses one pushed batch: {seq, prevHead, head, gpu: [...], proc: [...]}. */
function batch(v: unknown, i: number): PushedBatch {
  const o = asObject(v, `batches[${i}]`);
  const seq = o.seq;
  if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 0)
    throw new VerifierError('BODY_MALFORMED', `batches[${i}].seq must be a non-negative integer`);
  const gpu = o.gpu ?? [];
  const proc = o.proc ?? [];
  if (!Array.isArray(gpu) || !Array.isArray(proc) || gpu.length + proc.length > MAX_BATCH_SAMPLES)
    throw new VerifierError(
      'BODY_MALFORMED',
      `batches[${i}].gpu and .proc must be arrays of at most ${MAX_BATCH_SAMPLES} samples`,
    );
  return {
    seq,
    prevHead: head32(o.prevHead, `batches[${i}].prevHead`),
    head: head32(o.head, `batches[${i}].head`),
    gpu: gpu.map((s, j) => sample(s, `batches[${i}].gpu[${j}]`)),
    proc: proc as JsonValue[],
  };
}

/** The answer to a telemetry push: counts, the chain and the next batch due with its head. */
export interface TelemetryAck {
  accepted: number;
  duplicate: number;
  chain: number;
  seq: number;
  head: string;
}

/**
 * An agent's telemetry push (POST /v1/telemetry, docs/api.md): `raw` is the pushed
 * `batches` member, [{seq, prevHead, head, gpu, proc}] (attacker-controlled). The batches must
 * continue the agent's digest chain (checkChain); the whole push is stored in one transaction or
 * not at all.
 * @throws VerifierError BODY_MALFORMED | BATCH_TOO_LARGE | TELEMETRY_CHAIN_BROKEN | TELEMETRY_BATCH_TAMPERED
 */
export async function ingestTelemetry(
  store: TelemetryStore,
  agent: string,
  raw: unknown,
): Promise<TelemetryAck> {
  if (!Array.isArray(raw)) throw new VerifierError('BODY_MALFORMED', '"batches" must be an array');
  if (raw.length > MAX_PUSH_BATCHES)
    throw new VerifierError('BATCH_TOO_LARGE', `${raw.length} batches, at most ${MAX_PUSH_BATCHES}`);
  const batches = raw.map(batch);
  // Check against the chain as read, store only if it is still that (append's compare-and-set):
  // a push of the same agent at another process in between makes this one check again.
  for (let attempt = 1; ; attempt++) {
    const current = await store.chain(agent);
    const seqs =
      current === undefined ? [] : batches.filter((b) => b.seq < current.nextSeq).map((b) => b.seq);
    const heads = current === undefined ? new Map() : await store.batchHeads(agent, current.chain, seqs);
    const out = checkChain(current, batches, (chain, seq) =>
      chain === current?.chain ? heads.get(seq) : undefined,
    );
    if (out.accept.length === 0 || (await store.append(agent, current, out.state, out.accept)))
      return ack(out);
    if (attempt >= MAX_ATTEMPTS)
      throw new VerifierError(
        'STORE_FAILED',
        `telemetry of ${agent} changed under ${attempt} pushes in a row`,
      );
  }
}

/** Compare-and-set attempts of one push before giving up (each loses only to another accepted push). */
const MAX_ATTEMPTS = 8;

function ack(out: ChainOutcome): TelemetryAck {
  return {
    accepted: out.accept.length,
    duplicate: out.duplicate,
    chain: out.state.chain,
    seq: out.state.nextSeq,
    head: toBase64Url(out.state.head),
  };
}
