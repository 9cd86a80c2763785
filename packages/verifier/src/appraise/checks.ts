import type { Check } from '@tmb/core';

/** A check's outcome without its name: the name comes from where it is put. */
export type Outcome = Omit<Check, 'name'>;

/** `outcome` named `name`, the name first (the order of members on the wire). */
export function named(name: string, outcome: Outcome | Check): Check {
  if ('name' in outcome) {
    const { name: _, ...rest } = outcome;
    return { name, ...rest };
  }
  return { name, ...outcome };
}

/**
 * Replaces the check named `name` in `checks`, in place and at its position: the verdict keeps
 * its order and content, only that check's outcome changes.
 * @throws RangeError when no check is named `name` (a programmer error, never bad evidence)
 */
export function setCheck(checks: Check[], name: string, outcome: Outcome): void {
  const at = checks.findIndex((c) => c.name === name);
  if (at < 0) throw new RangeError(`no check named ${JSON.stringify(name)} to set`);
  checks[at] = named(name, outcome);
}

/**
 * A verdict's checks in a fixed order (docs/result.md), filled by name in any order and read
 * back in that order. Setting a name outside the order, or reading before every name is set,
 * throws: a check can neither be lost nor land at another's place.
 */
export class CheckSlots<N extends string> {
  readonly #order: readonly N[];
  readonly #byName = new Map<string, Check>();

  constructor(order: readonly N[]) {
    this.#order = order;
  }

  /**
   * Sets the check named `name`: a whole check is kept as it is (a stored check passed
   * through), an outcome is named `name`.
   * @throws RangeError when `name` is not one of the slots
   */
  set(name: N, check: Check | Outcome): void {
    if (!this.#order.includes(name)) throw new RangeError(`no check slot named ${JSON.stringify(name)}`);
    this.#byName.set(name, 'name' in check ? check : named(name, check));
  }

  /**
   * The checks in slot order.
   * @throws RangeError naming the first slot left unset
   */
  list(): Check[] {
    return this.#order.map((n) => {
      const c = this.#byName.get(n);
      if (c === undefined) throw new RangeError(`check ${JSON.stringify(n)} was never set`);
      return c;
    });
  }
}

/** One verdict check made of several of core's (core verdict/quote.ts). */
export { firstFailure } from '@tmb/core';
