import { createInterface } from 'node:readline';
import { createVerifiedFetch } from '@tmb/client';
import { type Level, minLevel } from '@tmb/core';
import OpenAI from 'openai';
import { fail, parse, UsageError } from '../args.ts';
import type { Io } from '../registry.ts';
import { settlingFetch } from './chat-settle.ts';
import {
  checkVerifier,
  EXPECTABLE,
  firstModel,
  httpUrl,
  providerBase,
  readToken,
  readVerifierKey,
} from './chat-setup.ts';
import { type Turn, turnJson, type VerifyHint, verdictLines } from './chat-text.ts';
import {
  ANSWER_TIMEOUT_MS,
  type ChatFailure,
  type ChatMessage,
  cappedFetch,
  MAX_ANSWER_BYTES,
  type Session,
  sendTurn,
} from './chat-turn.ts';

const HELP = `usage: tmb chat --url URL --verifier URL --verifier-key FILE [options]

A sample chat client that shows each answer's verdict. It talks to the provider's
OpenAI-compatible API with the official openai client on @tmb/client's verified fetch, so every
answer is checked against its receipt by YOUR verifier under YOUR pinned key (never one the
provider's response headers name), then prints the answer and, in one or two lines, its verdict:
level (L0, L1, L2...), host (the agent that signed the receipt), model, weights, receipt id and
the failed checks by name.

Without --message, and with a terminal on stdin, it is a conversation: type a message, Enter
sends it (history is kept); Ctrl-D, Ctrl-C or /quit ends it. Stdin that is not a terminal is
read the same way, one message per line. Each --message is one turn of a conversation, sent
in order (stdin is not read then).

  --url URL            the provider's OpenAI-compatible base: a load balancer or one agent
                       (/v1 is added unless the URL ends in it)
  --verifier URL       the verifier to ask for receipts (or TMB_VERIFIER_URL)
  --verifier-key FILE  the verifier's result key, a JWK (GET /v1/verifier-key), obtained out of
                       band and pinned
  --model NAME         the model to ask for (default: the first one GET /v1/models lists)
  --token-file FILE    the provider's API token (sent as a Bearer token); read from a file,
                       never from the command line or OPENAI_API_KEY
  --stream             stream each answer (SSE) as it is generated, then print its verdict
  --message TEXT       one turn; repeat it for several
  --json               one JSON object per turn on stdout: {answer, receiptId, requestId, agent,
                       model, weights, level, ok, pending, failed: [{name, code, detail}]}
  --wait S             how long to wait for each verdict to settle: the receipt to reach the
                       verifier, a TPM quote to cover it and the GPU samples around it to
                       arrive (default 10, at most 120); it ends as soon as they have. A verdict
                       still pending says so, with the tmb verify line that checks it later
  --expect-level L     L0, L1, L2 or L3: exit 1 unless every verdict is at L or above with no
                       failed check

Exits 0 when every turn was answered (and, with --expect-level, every verdict reached it); 1
when a verdict did not reach --expect-level, an answer came without a receipt (no agent on the
path), the provider or the verifier could not be reached, or an answer was not an OpenAI one;
2 on bad usage (a missing flag, a key file that is not an EC P-256 public JWK, an unreadable
token file).`;

/** Default and largest --wait, seconds. */
const WAIT_DEFAULT_S = 10;
const WAIT_MAX_S = 120;

/** The settings of a chat, from its flags. */
interface ChatConfig {
  base: string;
  verifier: string;
  keyFile: string;
  model: string | undefined;
  token: string | undefined;
  stream: boolean;
  json: boolean;
  waitS: number;
  expect: Level | undefined;
  messages: string[];
}

/** `tmb chat`: see HELP. */
export async function main(argv: string[], io: Io): Promise<number> {
  const { values } = parse(argv, {
    url: { type: 'string' },
    verifier: { type: 'string' },
    'verifier-key': { type: 'string' },
    model: { type: 'string' },
    'token-file': { type: 'string' },
    stream: { type: 'boolean' },
    message: { type: 'string', multiple: true },
    json: { type: 'boolean' },
    wait: { type: 'string' },
    'expect-level': { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) {
    io.stdout(`${HELP}\n`);
    return 0;
  }
  if (values.url === undefined) throw new UsageError('--url URL is required (see --help)');
  const verifier = values.verifier ?? process.env.TMB_VERIFIER_URL;
  if (verifier === undefined) throw new UsageError('--verifier URL is required (see --help)');
  if (values['verifier-key'] === undefined)
    throw new UsageError('--verifier-key FILE is required: without it no verdict can be checked');
  const waitS = Number(values.wait ?? WAIT_DEFAULT_S);
  if (values.wait?.trim() === '' || !Number.isFinite(waitS) || waitS < 0 || waitS > WAIT_MAX_S)
    throw new UsageError(`--wait must be a number of seconds from 0 to ${WAIT_MAX_S}`);
  const expect = values['expect-level'];
  if (expect !== undefined && !EXPECTABLE.includes(expect as Level))
    throw new UsageError(`--expect-level is one of ${EXPECTABLE.join(', ')}`);
  const messages = values.message ?? [];
  if (messages.some((m) => m.trim() === '')) throw new UsageError('--message must not be empty');
  const config: ChatConfig = {
    base: providerBase(values.url),
    verifier: httpUrl(verifier, '--verifier').href.replace(/\/+$/, ''),
    keyFile: values['verifier-key'],
    model: values.model,
    token: values['token-file'] === undefined ? undefined : await readToken(values['token-file']),
    stream: values.stream === true,
    json: values.json === true,
    waitS,
    expect: expect as Level | undefined,
    messages,
  };
  return chat(config, io);
}

/** Opens the session (key, verifier, model) and runs the turns; returns the exit status. */
async function chat(c: ChatConfig, io: Io): Promise<number> {
  const verifierKey = await readVerifierKey(c.keyFile);
  const reach = await checkVerifier(c.verifier, verifierKey);
  if (!reach.ok) return fail(io, c.json, 'chat', reach.code, reach.message);
  if (!reach.samePin)
    io.stderr(
      `tmb chat: warning: the verifier at ${c.verifier} serves a key other than ${c.keyFile}: its results will fail verifier.result\n`,
    );
  const apiKey = c.token ?? 'no-token';
  let model: string;
  try {
    model = c.model ?? (await firstModel(c.base, apiKey));
  } catch (err) {
    const f = err as ChatFailure;
    return fail(io, c.json, 'chat', f.code, f.message);
  }
  const waitMs = c.waitS * 1000;
  const bounded = cappedFetch(MAX_ANSWER_BYTES);
  const tmb = createVerifiedFetch({
    verifierUrl: c.verifier,
    verifierKey,
    waitMs,
    waitForQuoteMs: waitMs,
    // The verifier's answers are asked for again while the telemetry around an answer is on its way.
    fetch: settlingFetch(c.verifier, waitMs, bounded),
  });
  const openai = new OpenAI({
    baseURL: c.base,
    apiKey,
    fetch: tmb.fetch,
    maxRetries: 0,
    timeout: ANSWER_TIMEOUT_MS,
  });
  const session: Session = { openai, tmb, model, baseUrl: c.base };
  const run = new Run(c, io, session);
  if (c.messages.length > 0) {
    for (const m of c.messages) if (!(await run.turn(m, new AbortController().signal))) break;
  } else await conversation(run, c);
  return run.status;
}

/** The turns of one chat: history, output and exit status. */
class Run {
  readonly c: ChatConfig;
  readonly io: Io;
  readonly session: Session;
  readonly hint: VerifyHint;
  history: ChatMessage[] = [];
  status = 0;
  constructor(c: ChatConfig, io: Io, session: Session) {
    this.c = c;
    this.io = io;
    this.session = session;
    this.hint = { verifier: c.verifier, keyFile: c.keyFile };
  }

  /** Sends one message; prints the answer and its verdict. False when the turn failed. */
  async turn(text: string, signal: AbortSignal): Promise<boolean> {
    const messages: ChatMessage[] = [...this.history, { role: 'user', content: text }];
    const stream = this.c.stream && !this.c.json;
    let t: Turn;
    try {
      t = await sendTurn(
        this.session,
        messages,
        signal,
        this.c.stream ? (s) => stream && this.io.stdout(s) : undefined,
      );
    } catch (err) {
      const f = err as ChatFailure;
      if (stream) this.io.stdout('\n');
      // Cancelled by the user (Ctrl-C during an answer): nothing to judge, and not a failure.
      if (signal.aborted) {
        this.io.stderr('tmb chat: cancelled\n');
        return false;
      }
      this.status = 1;
      fail(this.io, this.c.json, 'chat', f.code, f.message);
      return false;
    }
    this.history = [...messages, { role: 'assistant', content: t.answer }];
    if (this.c.json) this.io.stdout(turnJson(t));
    else this.io.stdout(`${stream ? '\n' : `${t.answer}\n`}${verdictLines(t, this.c.waitS, this.hint)}`);
    if (!this.reached(t)) this.status = 1;
    return true;
  }

  /** Whether a verdict counts as reached: an answer with a receipt, and --expect-level met. */
  reached(t: Turn): boolean {
    if (t.receiptId === null) return false;
    if (this.c.expect === undefined) return true;
    return t.ok && minLevel(t.level, this.c.expect) === this.c.expect;
  }
}

/**
 * The conversation: one message per line of stdin, a prompt when stdin is a terminal. Ctrl-D
 * (end of input), Ctrl-C or /quit ends it; Ctrl-C during an answer also cancels that request.
 */
async function conversation(run: Run, c: ChatConfig): Promise<void> {
  const tty = process.stdin.isTTY === true;
  const rl = createInterface({
    input: process.stdin,
    ...(tty ? { output: process.stdout, terminal: true } : { terminal: false }),
  });
  let inFlight: AbortController | null = null;
  // closed: no more prompts (input ended, or Ctrl-C); stopped: Ctrl-C, so lines already read
  // are dropped too (after end of input, those are still sent).
  let closed = false;
  let stopped = false;
  rl.on('close', () => {
    closed = true;
  });
  rl.on('SIGINT', () => {
    stopped = true;
    inFlight?.abort();
    rl.close();
  });
  if (tty && !c.json)
    run.io.stdout(
      `chatting with ${run.session.model} at ${c.base}; verdicts from ${c.verifier} (Ctrl-D or /quit ends)\n`,
    );
  const prompt = () => tty && !closed && rl.prompt();
  rl.setPrompt('you> ');
  prompt();
  for await (const line of rl) {
    const text = line.trim();
    if (text === '/quit') break;
    if (text !== '') {
      inFlight = new AbortController();
      await run.turn(text, inFlight.signal);
      inFlight = null;
    }
    if (stopped) break;
    prompt();
  }
  rl.close();
}
