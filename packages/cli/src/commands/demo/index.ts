import { setTimeout as sleep } from 'node:timers/promises';
import type { Io } from '../../registry.ts';
import { takeHeldSignal } from '../../signals.ts';
import { ATTACKS, type AttackName, runAttack } from './attacks.ts';
import { type DemoRow, exchange, ROUND } from './exchange.ts';
import { demoOptions } from './options.ts';
import { type Stack, startStack } from './stack.ts';
import { HELP, L0_STATEMENT, L1_STATEMENT, L2_STATEMENT, tableHeader, tableRow } from './text.ts';
import { warmUp } from './warmup.ts';

export type { DemoRow } from './exchange.ts';

/** The level an honest answer reaches on this stack: L2 for generated text with TPMs and telemetry. */
function expectedLevel(stack: Stack, r: DemoRow): DemoRow['level'] {
  if (!stack.l1) return 'L0';
  return stack.telemetry !== undefined && r.endpoint !== 'embeddings' ? 'L2' : 'L1';
}

/** Whether a row is as it should be: honest at its level with no failed check, cheap caught. */
function asExpected(stack: Stack, r: DemoRow): boolean {
  if (r.backend === 'honest') return r.ok && r.level === expectedLevel(stack, r);
  const failed = (name: string) => r.checks.some((c) => c.name === name && c.status === 'fail');
  // The cheap backend's weights are sample-1b, and its GPU spends 0.6 times the energy per token.
  const telemetry =
    stack.telemetry === undefined || r.endpoint === 'embeddings' || failed('telemetry.consistent');
  return failed('weights.allowed') && telemetry;
}

/**
 * `tmb demo`: see HELP. Returns 0 when every honest request reached its expected level (L2 with
 * TPMs and telemetry, L1 for embeddings, L0 without a TPM) with no failed check and every cheap
 * one was caught by weights.allowed and, for generated text, telemetry.consistent.
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
    let i = 0;
    for (; i < ROUND.length * s.backends.length && !stop.signal.aborted; i++)
      print(await exchange(s, s.backends[i % 2]!, model, Math.floor(i / 2), stop.signal));
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
    say(`\nsending a request every ${intervalMs / 1000} s; Ctrl-C stops everything\n`);
    while (!stop.signal.aborted) {
      await sleep(intervalMs, undefined, { signal: stop.signal }).catch(() => {});
      if (stop.signal.aborted) break;
      print(await exchange(s, s.backends[i % 2]!, model, Math.floor(i / 2), stop.signal));
      i++;
    }
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

/** What is running and what each level proves, said before the first request. */
function introduce(s: Stack, telemetry: boolean, say: (t: string) => void): void {
  say(`state folder ${s.dir} (removed at the end)\nverifier ${s.verifier.url}\n`);
  for (const b of s.backends)
    say(
      `${b.variant.padEnd(6)} host ${b.host.name}: SAMPLE model server ${String(b.host.engine?.ready.listening)}${b.gpuUrl ? `, SIMULATED GPU ${b.gpuUrl}` : ''} <- agent ${b.agentUrl}\n`,
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
