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
  load: () => Promise<{ main: CommandMain }>;
}

export const COMMANDS: Record<string, Command> = {
  agent: {
    summary: 'run the agent: a receipting proxy in front of a model server',
    load: () => import('./commands/agent.ts'),
  },
  verifier: { summary: 'run the verifier service', load: () => import('./commands/verifier.ts') },
  'sample-server': {
    summary: 'run the SAMPLE model server (a stub standing in for vLLM, llama.cpp...)',
    load: () => import('./commands/sample.ts'),
  },
  verify: {
    summary: 'check a receipt, or an offline evidence bundle (--bundle FILE)',
    load: () => import('./commands/verify.ts'),
  },
  demo: {
    summary: 'run the whole system on this machine and print verdicts',
    load: () => import('./commands/demo.ts'),
  },
  tpm: { summary: 'check a TPM quote; run a development swtpm', load: () => import('./commands/tpm.ts') },
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
    load: () => import('./commands/profile.ts'),
  },
};
