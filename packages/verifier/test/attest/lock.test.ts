import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { createLogger, type RunningVerifier, type Store, startVerifier } from '../../src/index.ts';
import { SqliteStore } from '../../src/store/sqlite.ts';
import { agentTokens, call, READER_TOKEN } from '../fixtures.ts';
import { parseMetrics, scrape } from '../prom.ts';
import { ScriptedHost } from './kernel-host.ts';

// Issue 10, "no stuck states": two evidence posts of one agent appraised at once must not both
// start from the same stored state (the later save would erase what the earlier accepted). On a
// real swtpm, with a store whose save of the agent's state waits for the other post's save (or
// a bound), so without the per-agent lock both loads happen before either save.

const AGENT = 'host-lock';
const GATE_BOUND_MS = 3000;

let dir: string;
let v: RunningVerifier;
let host: ScriptedHost;
let inner: SqliteStore;
const logText: string[] = [];
const gate = { armed: false, release: null as (() => void) | null };

/** The SQLite store, but the agent's state row is saved only once a second save came, or after the bound. */
function gatedStore(s: SqliteStore): Store {
  const putAttest = async (agent: string, state: string) => {
    if (gate.armed && agent === AGENT) {
      if (gate.release === null) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, GATE_BOUND_MS);
          gate.release = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        gate.release = null;
      } else gate.release();
    }
    return s.putAttest(agent, state);
  };
  return new Proxy(s, {
    get: (target, p) => {
      if (p === 'putAttest') return putAttest;
      const value = Reflect.get(target, p);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  }) as Store;
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tmb-lock-'));
  host = new ScriptedHost(dir, '', AGENT);
  const tpmRoots = await host.provision();
  inner = new SqliteStore(join(dir, 'v.db'));
  v = await startVerifier({
    dbPath: join(dir, 'v.db'),
    store: gatedStore(inner),
    tokens: agentTokens(AGENT),
    readerTokens: [READER_TOKEN],
    tpmRoots,
    rateLimit: false,
    logger: createLogger({ level: 'info', sink: { write: (l) => logText.push(l) } }),
  });
  host.url = v.url;
  await host.enrol();
});

after(async () => {
  await host?.close();
  await v?.close();
  await inner?.close();
  await rm(dir, { recursive: true, force: true });
});

/** `size A -> B` of an accepted answer's checkpoint.consistent check: the base it extended. */
function extended(json: Record<string, unknown>): { from: number; to: number } {
  const checks = json.checks as { name: string; detail: string }[];
  const d = checks.find((c) => c.name === 'checkpoint.consistent')?.detail ?? '';
  const m = /^size (\d+) -> (\d+)/.exec(d);
  assert.ok(m, `no consistency detail in ${d}`);
  return { from: Number(m[1]), to: Number(m[2]) };
}

test('two evidence posts of one agent at once: never both accepted from one base (no lost update)', async () => {
  await host.serve(5);
  assert.equal((await host.quote()).status, 200); // the base: checkpoint of size 5
  await host.serve(10);
  const all = host.bodies;
  gate.armed = true;
  // quote() reads host.bodies synchronously before its first await: two checkpoints over one base.
  host.bodies = all.slice(0, 10);
  const small = host.quote();
  host.bodies = all;
  const big = host.quote();
  const answers = await Promise.all([small, big]);
  gate.armed = false;
  const accepted = answers.filter((a) => a.status === 200).map((a) => extended(a.json));
  assert.ok(
    accepted.length >= 1,
    `one post is accepted: ${JSON.stringify(answers.map((a) => a.json.error))}`,
  );
  for (const a of answers.filter((x) => x.status !== 200)) {
    assert.equal(a.status, 422);
    const failed = (a.json.checks as { name: string; status: string }[]).filter((c) => c.status === 'fail');
    // Appraised against the state the earlier post saved: its base is gone (host.boot may fail
    // too: the kernel log it sent starts where the older state stood).
    assert.ok(
      failed.some((c) => c.name === 'checkpoint.consistent'),
      `refused for its base: ${JSON.stringify(failed)}`,
    );
  }
  // Accepted posts extend each other in turn: at most one extended the base of 5.
  assert.equal(
    accepted.filter((a) => a.from === 5).length,
    1,
    `both extended size 5: ${JSON.stringify(accepted)}`,
  );
  const latest = await call(`${v.url}/v1/agents/${AGENT}/checkpoint`, 'GET', undefined, null);
  assert.equal(latest.json.size, Math.max(...accepted.map((a) => a.to)));
});

test('evidence outcomes reach the log and /metrics: appraisals by result and code, latency, quote age', async () => {
  const refused = await host.quote({
    tamper: (b) => {
      b.nonce = '00'.repeat(32);
    },
  });
  assert.equal(refused.status, 422);
  const text = await (await scrape(v.url, READER_TOKEN)).text();
  const m = parseMetrics(text);
  const acceptedCount = m.get('tmb_verifier_evidence_appraisals_total{result="accepted",code=""}') ?? 0;
  assert.ok(acceptedCount >= 2, `accepted appraisals counted: ${acceptedCount}`);
  const refusals = [...m].filter(([k]) =>
    k.startsWith('tmb_verifier_evidence_appraisals_total{result="refused"'),
  );
  assert.ok(refusals.length >= 1);
  const total = [...m]
    .filter(([k]) => k.startsWith('tmb_verifier_evidence_appraisals_total'))
    .reduce((n, [, x]) => n + x, 0);
  assert.equal(m.get('tmb_verifier_evidence_appraisal_seconds_count'), total);
  const age = m.get(`tmb_verifier_agent_last_quote_age_seconds{agent="${AGENT}"}`);
  assert.ok(age !== undefined && age >= 0 && age < 600, `quote age ${age}`);
  const lines = logText.map((l) => JSON.parse(l) as Record<string, unknown>);
  const ev = lines.filter((l) => l.event === 'evidence_accepted' || l.event === 'evidence_refused');
  assert.equal(ev.length, total);
  const last = ev.at(-1)!;
  assert.equal(last.event, 'evidence_refused');
  assert.equal(last.agent, AGENT);
  assert.equal(typeof last.code, 'string');
  assert.equal(typeof last.requestId, 'string');
  for (const e of ['ak_enrolment_started', 'ak_activated', 'checkpoint_key_certified', 'agent_key_enrolled'])
    assert.ok(
      lines.some((l) => l.event === e),
      `${e} logged`,
    );
  assert.doesNotMatch(logText.join(''), /"nonce"/, 'no nonce in the log');
});
