import assert from 'node:assert/strict';
import { appendFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { AccessLog } from '../../src/lb/access.ts';

const entry = (requestId: string, upstream: string) =>
  JSON.stringify({ time: 't', requestId, upstream, status: '200', upstreamStatus: '200' });

test('the access log is read as nginx appends to it, a half-written line waited for', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'tmb-access-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const path = join(dir, 'access.log');
  const log = new AccessLog(path);
  assert.equal(await log.find('a', 0), undefined, 'no file yet: nothing, no error');
  const line = `${entry('a', '127.0.0.1:1')}\n${entry('b', '127.0.0.1:2')}\n`;
  const cut = line.length - 10;
  await appendFile(path, line.slice(0, cut));
  assert.equal((await log.find('a', 0))?.upstream, '127.0.0.1:1');
  assert.equal(await log.find('b', 0), undefined, 'the second line is not whole yet');
  const late = log.find('b', 10_000);
  await appendFile(path, `${line.slice(cut)}not json\n${entry('c', '127.0.0.1:3')}\n`);
  assert.equal((await late)?.upstream, '127.0.0.1:2');
  assert.deepEqual(
    (await log.entries()).map((e) => e.requestId),
    ['a', 'b', 'c'],
    'a line not in the format is skipped',
  );
});
