import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { toHex } from '@tmb/core';
import { parseBinaryLog, replay } from '@tmb/core/ima';
import { KernelSimError, startSimulatedKernel } from '@tmb/demo';
import { startHost } from './host.ts';

const bin = (dir: string) => join(dir, 'securityfs', 'ima');

test('an open inside the simulated host is logged before the open returns', async (t) => {
  const h = await startHost(t);
  if (h === null) return;
  const f = join(h.dir, 'opened.txt');
  await writeFile(f, 'hello\n');
  // The opener's own open of f returns only after the measurement: its next read sees the entry.
  const { code, out } = await h.run('sh', [
    '-c',
    `exec 3<${f}; grep -c ${f} ${bin(h.dir)}/ascii_runtime_measurements`,
  ]);
  assert.equal(code, 0);
  assert.equal(out.trim(), '1');
  const paths = await h.paths();
  assert.deepEqual(paths.slice(0, 2), ['boot_aggregate', 'tmb.simulated-kernel']);
  assert.equal(Number(await readFile(join(bin(h.dir), 'runtime_measurements_count'), 'utf8')), paths.length);
  assert.equal(h.k.count(), paths.length);
});

test('an executed script and its interpreter are measured', async (t) => {
  const h = await startHost(t);
  if (h === null) return;
  const script = join(h.dir, 'hello.sh');
  await writeFile(script, '#!/usr/bin/perl\nprint "hi\\n";\n');
  await chmod(script, 0o755);
  const { code, out } = await h.run(script, []);
  assert.equal(code, 0, out);
  const paths = await h.paths();
  assert.ok(paths.includes(script), 'the script');
  assert.ok(paths.includes('/usr/bin/perl'), 'its interpreter');
});

test('the binary log replays to PCR 10 read with tpm2_pcrread through the proxy', async (t) => {
  const h = await startHost(t);
  if (h === null) return;
  await h.run('sh', ['-c', 'cat /etc/hostname /etc/passwd > /dev/null']);
  const entries = parseBinaryLog(
    new Uint8Array(await readFile(join(bin(h.dir), 'binary_runtime_measurements'))),
  );
  assert.ok(entries.length > 5);
  const r = replay(entries, { pcrIndex: 10, checkTemplateHash: true });
  assert.equal(r.templateHashMismatches.length, 0);
  assert.equal(toHex(r.pcr), await h.pcr10());
});

test('a file is measured once while unchanged, and again after it changed', async (t) => {
  const h = await startHost(t);
  if (h === null) return;
  const f = join(h.dir, 'data.txt');
  await writeFile(f, 'one\n');
  await h.run('cat', [f]);
  await h.run('cat', [f]);
  assert.equal((await h.paths()).filter((p) => p === f).length, 1);
  await writeFile(f, 'two, longer\n');
  await h.run('cat', [f]);
  assert.equal((await h.paths()).filter((p) => p === f).length, 2);
  // Written inside the host, then read: measured again (a write-open cannot be told from a read-open).
  await h.run('sh', ['-c', `echo three >> ${f}; cat ${f}`]);
  assert.ok((await h.paths()).filter((p) => p === f).length >= 3);
});

test('opens outside the simulated host are not measured', async (t) => {
  const h = await startHost(t);
  if (h === null) return;
  const f = join(h.dir, 'outside.txt');
  await writeFile(f, 'x\n');
  await readFile(f);
  const c = spawn('cat', [f], { stdio: 'ignore' });
  await new Promise((r) => c.once('close', r));
  assert.ok(!(await h.paths()).includes(f));
});

test('non-regular files are not measured', async (t) => {
  const h = await startHost(t);
  if (h === null) return;
  const fifo = join(h.dir, 'fifo');
  const { code, out } = await h.run('sh', [
    '-c',
    `mkfifo ${fifo}; head -c 4 /dev/zero > /dev/null; cat ${h.dir} 2>/dev/null; echo x > ${fifo} & cat ${fifo}`,
  ]);
  assert.equal(code, 0, out);
  const paths = await h.paths();
  for (const p of ['/dev/zero', '/dev/null', fifo, h.dir]) assert.ok(!paths.includes(p), p);
});

test('concurrent openers: every file logged, log order is PCR order', async (t) => {
  const h = await startHost(t);
  if (h === null) return;
  const files: string[] = [];
  for (let w = 0; w < 4; w++) {
    await mkdir(join(h.dir, `w${w}`));
    for (let i = 0; i < 40; i++) {
      const f = join(h.dir, `w${w}`, `f${i}`);
      await writeFile(f, `${w}/${i}\n`);
      files.push(f);
    }
  }
  const runs = [0, 1, 2, 3].map((w) =>
    h.run('sh', ['-c', `for f in ${h.dir}/w${w}/*; do cat "$f" > /dev/null; done`]),
  );
  for (const r of await Promise.all(runs)) assert.equal(r.code, 0, r.out);
  const paths = await h.paths();
  for (const f of files) assert.ok(paths.includes(f), f);
  const entries = parseBinaryLog(
    new Uint8Array(await readFile(join(bin(h.dir), 'binary_runtime_measurements'))),
  );
  assert.equal(toHex(replay(entries, { pcrIndex: 10 }).pcr), await h.pcr10());
});

test('the firmware runs first: its log is written and boot_aggregate covers its PCRs', async (t) => {
  const d0 = createHash('sha256').update('firmware').digest();
  const h = await startHost(t, async (extend) => {
    await extend(0, d0);
    return new Uint8Array([1, 2, 3]);
  });
  if (h === null) return;
  assert.deepEqual(
    [...(await readFile(join(h.k.securityfs, 'tpm0', 'binary_bios_measurements')))],
    [1, 2, 3],
  );
  const pcr0 = createHash('sha256').update(Buffer.alloc(32)).update(d0).digest();
  const want = createHash('sha256')
    .update(pcr0)
    .update(Buffer.alloc(32 * 9))
    .digest('hex');
  const entries = parseBinaryLog(
    new Uint8Array(await readFile(join(bin(h.dir), 'binary_runtime_measurements'))),
  );
  assert.equal(entries[0]!.path, 'boot_aggregate');
  assert.equal(entries[0]!.digest, want);
});

test('a kernel restarted on the same swtpm (PCR 10 already extended, no reboot) is refused', async (t) => {
  const h = await startHost(t);
  if (h === null) return;
  await h.k.close(); // swtpm serves one connection: the first kernel lets go of it (close is idempotent)
  await assert.rejects(
    startSimulatedKernel({ stateDir: join(h.dir, 'again'), tpm: h.tpm.tcti }),
    (e) => e instanceof KernelSimError && e.code === 'SIMKERNEL_TPM_NOT_FRESH',
  );
});
