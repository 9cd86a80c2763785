import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseTcti, tctiString } from '../../src/tpm/tcti.ts';

test('TCTI configuration round-trips to the tpm2-tools strings', () => {
  assert.equal(tctiString({ kind: 'device' }), 'device:/dev/tpmrm0');
  assert.equal(tctiString({ kind: 'swtpm', port: 2321 }), 'swtpm:host=127.0.0.1,port=2321');
  assert.equal(tctiString({ kind: 'unix', path: '/run/tpm.sock' }), 'swtpm:path=/run/tpm.sock');
  assert.deepEqual(parseTcti('device'), { kind: 'device' });
  assert.deepEqual(parseTcti('device:/dev/tpm0'), { kind: 'device', path: '/dev/tpm0' });
  assert.deepEqual(parseTcti('swtpm:port=2321'), { kind: 'swtpm', host: '127.0.0.1', port: 2321 });
  assert.deepEqual(parseTcti('swtpm:host=10.0.0.2,port=2321'), {
    kind: 'swtpm',
    host: '10.0.0.2',
    port: 2321,
  });
  assert.deepEqual(parseTcti('unix:/run/tpm.sock'), { kind: 'unix', path: '/run/tpm.sock' });
  for (const bad of ['', 'mssim', 'swtpm:port=x', 'swtpm:host=a;rm,port=1', 'unix:'])
    assert.equal(parseTcti(bad), undefined, bad);
});
