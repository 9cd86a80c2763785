import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TmbError } from '@tmb/core';
import { errorLine, parse, UsageError } from '../src/args.ts';
import { InputTooLargeError } from '../src/input.ts';

test('UsageError is a TmbError with code CLI_USAGE, the code --json prints for it', () => {
  const err = new UsageError('--tpm is auto, swtpm, device or none');
  assert.ok(err instanceof TmbError);
  assert.ok(err instanceof Error);
  assert.equal(err.name, 'UsageError');
  assert.equal(err.code, 'CLI_USAGE');
  assert.equal(err.message, '--tpm is auto, swtpm, device or none');
  assert.throws(() => parse(['--nope'], {}), { name: 'UsageError', code: 'CLI_USAGE' });
  assert.equal(
    errorLine(err.code, err.message),
    `{"error":{"code":"CLI_USAGE","message":"${err.message}"}}\n`,
  );
  const big = new InputTooLargeError('/dev/zero', 10);
  assert.ok(big instanceof UsageError);
  assert.equal(big.name, 'InputTooLargeError');
  assert.equal(big.code, 'CLI_USAGE');
});
