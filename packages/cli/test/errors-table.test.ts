import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import { AGENT_ERROR_CODES } from '@tmb/agent';
import { TPM_DRIVER_ERROR_CODES } from '@tmb/agent/tpm';
import { CLIENT_ERROR_CODES } from '@tmb/client';
import { CORE_ERROR_CODES } from '@tmb/core';
import { KERNEL_SIM_ERROR_CODES } from '@tmb/demo';
import { STATS_ERROR_CODES } from '@tmb/stats';
import { VERIFIER_ERROR_CODES } from '@tmb/verifier';
import { CLI_ERROR_CODES } from '../src/args.ts';

// Every package's code list. A package that adds an error class adds its list here.
const LISTS: Record<string, readonly string[]> = {
  core: CORE_ERROR_CODES,
  agent: [...AGENT_ERROR_CODES, ...TPM_DRIVER_ERROR_CODES],
  verifier: VERIFIER_ERROR_CODES,
  client: CLIENT_ERROR_CODES,
  stats: STATS_ERROR_CODES,
  demo: KERNEL_SIM_ERROR_CODES,
  cli: CLI_ERROR_CODES,
};

async function tableRows(): Promise<Map<string, string>> {
  const text = await readFile(new URL('../../../docs/errors.md', import.meta.url), 'utf8');
  const rows = new Map<string, string>();
  for (const m of text.matchAll(/^\| `([A-Z0-9_]+)` \| ([a-z]+) \|/gm)) {
    assert.ok(!rows.has(m[1]!), `docs/errors.md lists ${m[1]} twice`);
    rows.set(m[1]!, m[2]!);
  }
  return rows;
}

test('docs/errors.md lists exactly the codes the packages define', async () => {
  const rows = await tableRows();
  const defined = new Map<string, string>();
  for (const [pkg, codes] of Object.entries(LISTS)) for (const c of codes) defined.set(c, pkg);
  const missing = [...defined.keys()].filter((c) => !rows.has(c));
  const extra = [...rows.keys()].filter((c) => !defined.has(c));
  assert.deepEqual(missing, [], 'codes defined in code but missing from docs/errors.md');
  assert.deepEqual(extra, [], 'codes in docs/errors.md that no package defines');
  for (const [code, pkg] of defined)
    assert.equal(rows.get(code), pkg, `${code} is listed under the wrong package`);
});
