import { setTimeout as sleep } from 'node:timers/promises';
import type { Io } from '../../registry.ts';
import { takeHeldSignal } from '../../signals.ts';
import { ATTACKS, type AttackName, runAttack } from './attacks.ts';
import { type DemoRow, exchange, exchangeRouted, ROUND } from './exchange.ts';
import { demoOptions } from './options.ts';
import { type Stack, startStack } from './stack.ts';
import { asExpected, type DemoSummary, expectedLevel, summarize, summaryText } from './summary.ts';
import { HELP, L0_STATEMENT, L1_STATEMENT, L2_STATEMENT, tableHeader, tableRow } from './text.ts';
import { warmUp } from './warmup.ts';

export type { DemoRow } from './exchange.ts';
export type { DemoSummary } from './summary.ts';

/**
 * `tmb demo`: see HELP. Returns 0 when every request was placed on its host by the ground truth
 * (nginx's access log, or the client's own routing), every honest answer reached its expected
 * level (L2 with TPMs and telemetry, L1 for embeddings, L0 without a TPM) with no failed check,
 * and every cheap one was caught by weights.allowed and, for generated text, telemetry.consistent.
 */
export async function main(argv: string[], io: Io): Promise<number> {
  const o = demoOptions(argv);
  if (o === null) {
    io.stdout(`${HELP}\n`);
    return 0;
  }
  const { telemetry, intervalMs, model, attack, once, json } = o;
  const say = json ? io.stderr : io.stdout; // prose never mixes with the JSON lines on stdout

  const stop = new AbortController();
  const onSignal = () => stop.abort();
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  if (takeHeldSignal() !== undefined) stop.abort();
  let stack: Stack | undefined;
  let allOk = true;
  try {
    const log = o.verbose ? (l: string) => io.stderr(`${l}\n`) : () => {};
    const progress = progressTo(io, o);
    stack = await startStack({
      model,
      latencyMs: o.latencyMs,
      tpm: o.tpm,
      telemetry,
      log,
      progress,
      ...(o.dataDir !== undefined ? { parent: o.dataDir } : {}),
      hosts: o.hosts,
      cheat: o.cheat,
      routing: o.routing,
    });
    const s = stack;
    introduce(s, telemetry, say);
    if (telemetry) say(`${await warmUp(s, model, progress)}\n\n`);
    if (!json) io.stdout(tableHeader());
    const print = (r: DemoRow) => {
      if (!asExpected(s, r)) {
        allOk = false;
        const failed = r.checks
          .filter((c) => c.status !== 'pass')
          .map((c) => `${c.name} ${c.status} ${c.code ?? ''}`);
        say(`NOT AS EXPECTED: ${r.backend} ${r.endpoint} level ${r.level}: ${failed.join(', ')}\n`);
      }
      io.stdout(json ? `${JSON.stringify(r)}\n` : tableRow(r));
    };
    const routed: DemoRow[] = [];
    const send = async (i: number) => {
      const r = await exchangeRouted(s, model, i, stop.signal);
      routed.push(r);
      print(r);
    };
    const summary = () => {
      const sum = summarize(s, routed);
      if (json) io.stdout(`${JSON.stringify({ summary: sum })}\n`);
      else io.stdout(`\n${summaryText(sum)}`);
      return sum;
    };
    let i = 0;
    for (; i < (o.requests ?? ROUND.length * s.backends.length) && !stop.signal.aborted; i++) await send(i);
    const first: DemoSummary = summary();
    allOk &&= first.ok;
    if (attack !== undefined && !stop.signal.aborted) {
      const caught = await attackRound(s, attack, model, stop.signal, say, (r) =>
        io.stdout(json ? `${JSON.stringify({ ...r, attack })}\n` : tableRow(r)),
      );
      say(
        caught
          ? `\nattack ${attack} was caught: ${ATTACKS[attack].caughtBy} failed on every answer after it\n`
          : `\nATTACK ${attack} WAS NOT CAUGHT on every answer\n`,
      );
      return stop.signal.aborted ? 130 : allOk && caught ? 0 : 1;
    }
    if (once) {
      say(`\n${roundSummary(s, telemetry, allOk)}\n`);
      return stop.signal.aborted ? 130 : allOk ? 0 : 1;
    }
    say(`\n${chatLine(s, model)}\n`);
    say(`\nsending a request every ${intervalMs / 1000} s; Ctrl-C stops everything\n`);
    while (!stop.signal.aborted) {
      await sleep(intervalMs, undefined, { signal: stop.signal }).catch(() => {});
      if (stop.signal.aborted) break;
      await send(i).catch((err: unknown) => {
        if (!stop.signal.aborted) throw err;
      });
      i++;
    }
    summary();
    return 0;
  } catch (err) {
    // Ctrl-C during a request: its abort is expected, not a failure.
    if (stop.signal.aborted) return once ? 130 : 0;
    throw err;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    say('stopping the hosts (agents, sample servers, simulated GPUs and kernels, swtpms) and the verifier\n');
    await stack?.close();
  }
}

/** A ready-to-paste `tmb chat` line for the provider's endpoint (nginx, or one honest agent without it). */
function chatLine(s: Stack, model: string): string {
  const honest = s.backends.find((b) => b.variant === 'honest')!;
  const url = s.lb.url ?? honest.agentUrl;
  const where =
    s.lb.url !== undefined ? 'through the load balancer' : `straight to ${honest.host.name} (no nginx)`;
  return `chat with the provider ${where}, each answer with its verdict:\n  tmb chat --url ${url} --verifier ${s.verifier.url} --verifier-key ${s.verifierKeyFile} --model ${model}`;
}

/** What is running and what each level proves, said before the first request. */
function introduce(s: Stack, telemetry: boolean, say: (t: string) => void): void {
  say(`state folder ${s.dir} (removed at the end)\nverifier ${s.verifier.url}\n`);
  say(`dashboard ${s.verifier.url}/dashboard (sign in with the reader token in ${s.readerTokenFile})\n`);
  const weight = new Map(s.lb.weights.map((w) => [w.host, w.weight]));
  for (const b of s.backends)
    say(
      `${b.variant.padEnd(6)} host ${b.host.name.padEnd(12)} weight ${weight.get(b.host.name)}: SAMPLE model server ${String(b.host.engine?.ready.listening)}${b.gpuUrl ? `, SIMULATED GPU ${b.gpuUrl}` : ''} <- agent ${b.agentUrl}\n`,
    );
  say(
    s.lb.routing === 'nginx'
      ? `routing: nginx ${s.lb.url} -> the agents above, ${s.lb.share} of the requests to the cheap host (--cheat); where each went is read from nginx's access log\n`
      : `routing: direct (no nginx): ${s.lb.why}; the demo client picks each request's host by the same weights (${s.lb.share} to the cheap host)\n`,
  );
  say(`${s.tpmNote}\n`);
  say(telemetry ? 'telemetry: on, from a SIMULATED GPU\n' : 'telemetry: off (--no-telemetry): L1 at most\n');
  say(`\n${L0_STATEMENT}\n\n${s.l1 ? `${L1_STATEMENT}\n\n` : ''}${telemetry ? `${L2_STATEMENT}\n\n` : ''}`);
}

/** The line after a --once round: the level reached and what caught the cheap host, or failure. */
function roundSummary(s: Stack, telemetry: boolean, allOk: boolean): string {
  if (!allOk) return 'SOME REQUESTS FAILED VERIFICATION';
  const caughtBy = telemetry ? 'weights.allowed and telemetry.consistent' : 'weights.allowed';
  const level = s.l1 ? (telemetry ? 'L2 (embeddings: L1, no tokens to score)' : 'L1') : 'L0';
  return `every honest request reached ${level} with no failed check; every cheap one was caught by ${caughtBy}`;
}

/**
 * Where the demo's progress lines go (one per step that can take seconds: starting hosts, first
 * quotes, the warm-up): stderr, or nowhere with --quiet or --json.
 */
export function progressTo(io: Io, flags: { quiet?: boolean; json?: boolean }): (line: string) => void {
  if (flags.quiet === true || flags.json === true) return () => {};
  return (line) => io.stderr(`${line}\n`);
}

/**
 * Attacks the honest host (demo/attacks.ts), then sends a round to it and prints each answer.
 * Returns whether every answer after the attack failed the attack's check and stayed below the
 * level an honest answer reaches.
 */
async function attackRound(
  s: Stack,
  name: AttackName,
  model: string,
  signal: AbortSignal,
  say: (t: string) => void,
  print: (r: DemoRow) => void,
): Promise<boolean> {
  say(`\nattack ${name}: ${ATTACKS[name].what}\n`);
  await runAttack(s, name);
  const honest = s.backends.find((b) => b.variant === 'honest')!;
  let caught = true;
  for (let i = 0; i < ROUND.length && !signal.aborted; i++) {
    const r = await exchange(s, honest, model, i, signal);
    print(r);
    const failed = r.checks.some((c) => c.name === ATTACKS[name].caughtBy && c.status === 'fail');
    // Embeddings generate no tokens: telemetry cannot speak for them.
    const counts = !(ATTACKS[name].caughtBy.startsWith('telemetry.') && r.endpoint === 'embeddings');
    if (counts) caught &&= failed && !r.ok && r.level !== expectedLevel(s, r);
  }
  return caught;
}
