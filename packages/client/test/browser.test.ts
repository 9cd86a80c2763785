import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { type Browser, chromium, type Page } from 'playwright-core';
import { type Bundle, type BundleResult, verifyBundle } from '../src/index.ts';
import { serve, type TestServer } from './browser/serve.ts';

// The client, and the core it uses, in a real browser: headless Chromium (Debian's `chromium`,
// which .ci/run installs) loads @tmb/client straight from the repository (types stripped on the
// fly, bare specifiers by an import map under the "browser" conditions, so core's #platform/*
// resolves to platform/web: @noble/hashes and @noble/curves, no node:crypto) and verifies the
// vector bundle of a real swtpm run: EAR (jose, WebCrypto), receipt (Ed25519), checkpoint and
// inclusion, quote (ECDSA P-256 AK), logs and host. Every answer must equal Node's.

const CHROMIUM = '/usr/bin/chromium';
const root = fileURLToPath(new URL('../../../', import.meta.url)).replace(/\/$/, '');
const dir = new URL('./vectors/bundle/', import.meta.url);
const read = (f: string) => readFileSync(new URL(f, dir), 'utf8');
const VECTOR = JSON.parse(read('bundle.json')) as Bundle;
const KEY = JSON.parse(read('verifier-key.json')) as JsonWebKey & { kid: string };
const ROOTS = [read('ek-roots.pem')];

type Plain = Pick<BundleResult, 'level' | 'ok' | 'checks'>;

/** A result as it crosses into and out of the page (JSON: no undefined members, no body). */
const plain = (r: BundleResult): Plain =>
  JSON.parse(JSON.stringify({ level: r.level, ok: r.ok, checks: r.checks }));

/** verifyBundle run in the page, on a copy of `bundle`. */
function inPage(page: Page, bundle: unknown, ekRoots?: string[]): Promise<Plain> {
  return page.evaluate(
    async ([b, key, roots]) => {
      const client = await import('@tmb/client');
      const r = await client.verifyBundle(
        b,
        roots === null ? { verifierKey: key } : { verifierKey: key, ekRoots: roots },
      );
      return JSON.parse(JSON.stringify({ level: r.level, ok: r.ok, checks: r.checks }));
    },
    [bundle, KEY, ekRoots ?? null] as const,
  );
}

/** `bundle` with one base64url character at `path` changed (still canonical: not the last one). */
function flipped(path: string[], at: number): Bundle {
  const b = structuredClone(VECTOR) as unknown as Record<string, unknown>;
  let o = b;
  for (const k of path.slice(0, -1)) o = o[k] as Record<string, unknown>;
  const last = path.at(-1)!;
  const s = o[last] as string;
  o[last] = s.slice(0, at) + (s[at] === 'A' ? 'B' : 'A') + s.slice(at + 1);
  return b as unknown as Bundle;
}

const status = (r: Plain, name: string) => r.checks.find((c) => c.name === name);

test('the client verifies a real receipt and bundle in headless Chromium, as it does in Node', {
  timeout: 300_000,
  skip: existsSync(CHROMIUM) ? false : `no ${CHROMIUM} (apt-get install chromium; .ci/run does)`,
}, async (t) => {
  const server: TestServer = await serve(root);
  t.after(() => server.close());
  const browser: Browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  t.after(() => browser.close());
  const page = await browser.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text());
  });
  await page.goto(`${server.origin}/`);

  // Without EK roots: every check passes but the EK chain, which stays the verifier's word.
  const node = plain(await verifyBundle(structuredClone(VECTOR), { verifierKey: KEY }));
  const web = await inPage(page, VECTOR);
  assert.deepEqual([...server.missing, ...errors], []);
  assert.deepEqual(web, node);
  assert.equal(web.ok, true);
  assert.equal(web.level, 'L0');
  assert.equal(status(web, 'host.ek_certificate')?.status, 'asserted');
  for (const name of [
    'verifier.result',
    'verifier.evidence',
    'receipt.signature',
    'agent.enrolled',
    'checkpoint.signature',
    'receipt.included',
    'checkpoint.consistent',
    'quote.signature',
    'log.replay',
    'host.integrity',
    'host.boot',
  ])
    assert.equal(status(web, name)?.status, 'pass', name);
  assert.match(status(web, 'quote.signature')!.detail, /^checked here/);

  // One changed byte of the receipt's signature, or of the quote's: the named failure, as in Node.
  const sig = (VECTOR.evidence.receipt as unknown as { sig: string }).sig;
  for (const [bundle, name] of [
    [flipped(['evidence', 'receipt', 'sig'], Math.floor(sig.length / 2)), 'receipt.signature'],
    [flipped(['evidence', 'quote', 'signature'], 60), 'quote.signature'],
  ] as const) {
    const w = await inPage(page, bundle);
    assert.deepEqual(w, plain(await verifyBundle(structuredClone(bundle), { verifierKey: KEY })));
    assert.equal(status(w, name)?.status, 'fail', name);
    assert.equal(w.ok, false);
  }

  // With EK roots: a browser has no X.509, so the EK chain is a named failure, never a pass.
  const withRoots = await inPage(page, VECTOR, ROOTS);
  assert.equal(status(withRoots, 'host.ek_certificate')?.code, 'EK_CERT_INVALID');
  assert.equal(withRoots.ok, false);

  // Every entry of @tmb/core loads in the browser (TPM and X.509 work stays Node's, see above).
  const pkg = JSON.parse(readFileSync(new URL('../../core/package.json', import.meta.url), 'utf8'));
  const entries = Object.keys(pkg.exports as Record<string, string>).map((k) => `@tmb/core${k.slice(1)}`);
  const unloaded = await page.evaluate(async (names) => {
    const out: string[] = [];
    for (const n of names) await import(n).catch((e: unknown) => out.push(`${n}: ${String(e)}`));
    return out;
  }, entries);
  assert.deepEqual(unloaded, []);

  // Nothing node-only was loaded: no platform/node file, no other package of ours.
  assert.ok(
    server.requested.some((p) => p.includes('/platform/web/')),
    'the web platform was loaded',
  );
  const nodeOnly = server.requested.filter(
    (p) => p.includes('/platform/node/') || !/^\/(packages\/(core|client)\/src|node_modules)\//.test(p),
  );
  assert.deepEqual(nodeOnly, []);
  assert.deepEqual(errors, []);
});
