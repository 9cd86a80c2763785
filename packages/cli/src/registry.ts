/**
 * One entry per `tmb` command. A command module exports `main(argv, io): Promise<number>`;
 * it is imported only when run, so one command's dependencies never slow another's start.
 */
export interface Io {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  /** Standard input as bytes, read to the end (only commands that read stdin call this). */
  stdin: () => Promise<Uint8Array>;
}

export type CommandMain = (argv: string[], io: Io) => Promise<number>;

export interface Command {
  summary: string;
  /**
   * Where the result is JSON whatever the flags (a service's ready line, a policy file): the
   * command itself ('') or subcommands by name. There main accepts `--json` and removes it
   * before the command sees it, so `--json` is valid on every command (docs/cli.md).
   */
  jsonAlways?: readonly string[];
  /**
   * Where the command runs until SIGINT or SIGTERM (a service, the demo, a development swtpm),
   * as in jsonAlways. Run as a process, main holds those signals from its start, so one that
   * comes before the command waits for it still stops it cleanly (signals.ts, holdSignals).
   */
  untilSignal?: readonly string[];
  /**
   * A command module. Its `main(['--help'], io)` prints its usage (every subcommand's included)
   * and returns 0: main answers `--help` or `-h` anywhere on a command line that way, so no
   * subcommand needs to handle it.
   */
  load: () => Promise<{ main: CommandMain }>;
}

export const COMMANDS: Record<string, Command> = {
  agent: {
    summary: 'run the agent: a receipting proxy in front of a model server',
    jsonAlways: [''],
    untilSignal: [''],
    load: () => import('./commands/agent.ts'),
  },
  verifier: {
    summary: 'run the verifier service',
    jsonAlways: ['', 'allow-ak'],
    untilSignal: [''],
    load: () => import('./commands/verifier.ts'),
  },
  'sample-server': {
    summary: 'run the SAMPLE model server (a stub standing in for vLLM, llama.cpp...)',
    jsonAlways: [''],
    untilSignal: [''],
    load: () => import('./commands/sample.ts'),
  },
  chat: {
    summary: 'chat with a provider; print each answer and its verdict',
    load: () => import('./commands/chat.ts'),
  },
  verify: {
    summary: 'check a receipt, or an offline evidence bundle (--bundle FILE)',
    load: () => import('./commands/verify.ts'),
  },
  demo: {
    summary: 'run the whole system on this machine and print verdicts',
    untilSignal: [''],
    load: () => import('./commands/demo/index.ts'),
  },
  tpm: {
    summary: 'check a TPM quote; run a development swtpm',
    jsonAlways: ['swtpm'],
    untilSignal: ['swtpm'],
    load: () => import('./commands/tpm.ts'),
  },
  stats: { summary: 'fit a distribution to numbers on stdin', load: () => import('./commands/stats.ts') },
  ima: { summary: 'replay and appraise IMA measurement lists', load: () => import('./commands/ima.ts') },
  boot: {
    summary: 'replay and appraise UEFI measured-boot event logs',
    load: () => import('./commands/boot.ts'),
  },
  policy: {
    summary: 'create and compare Keylime runtime policies',
    load: () => import('./commands/policy.ts'),
  },
  profile: {
    summary: 'fit, show and evaluate signed telemetry profiles',
    jsonAlways: ['keygen', 'generate', 'fit'],
    load: () => import('./commands/profile/index.ts'),
  },
};
