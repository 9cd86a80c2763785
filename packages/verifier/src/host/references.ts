import { CoreError } from '@tmb/core';
import { type BootPolicyJson, parseBootPolicy } from '@tmb/core/boot';
import {
  compilePolicy,
  compileRegistry,
  type ModelRegistry,
  parseRegistry,
  parseRuntimePolicy,
  type RuntimePolicy,
} from '@tmb/core/ima';
import { VerifierError } from '../errors.ts';
import type { HostReferences } from './checks.ts';

/**
 * Parses and compiles the verifier's reference values: the model registry (docs/registry.md)
 * and a Keylime runtime policy (docs/policy.md), each JSON text or already parsed. Either may
 * be left out; without both, receipts get no host checks. A DSSE-signed policy is verified with
 * `imaPolicyKey` (core openRuntimePolicy); with a key, an unsigned policy is refused.
 * @throws VerifierError VERIFIER_CONFIG_INVALID naming the core code (REGISTRY_INVALID,
 *   IMA_POLICY_INVALID) and what is wrong
 */
export function loadReferences(o: {
  registry?: string | ModelRegistry | undefined;
  imaPolicy?: string | RuntimePolicy | undefined;
  /** The key that must have signed `imaPolicy` (PEM); see VerifierOptions.imaPolicyKey. */
  imaPolicyKey?: string | undefined;
  bootPolicy?: string | BootPolicyJson | undefined;
}): HostReferences {
  try {
    return {
      registry: o.registry === undefined ? null : compileRegistry(parseRegistry(o.registry)),
      policy:
        o.imaPolicy === undefined
          ? null
          : compilePolicy(
              parseRuntimePolicy(o.imaPolicy, o.imaPolicyKey === undefined ? {} : { key: o.imaPolicyKey }),
            ),
      boot: o.bootPolicy === undefined ? null : parseBootPolicy(o.bootPolicy),
    };
  } catch (err) {
    if (!(err instanceof CoreError)) throw err;
    throw new VerifierError('VERIFIER_CONFIG_INVALID', `${err.code}: ${err.message}`, { cause: err });
  }
}
