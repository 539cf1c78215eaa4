import type { CompiledPolicySet } from './compiled.js';

/** The set being served and when it was loaded. */
export interface LoadedPolicies {
  readonly set: CompiledPolicySet;
  readonly loadedAt: Date;
}

/**
 * Holds the policy set in force. A replacement is built whole elsewhere and swapped in
 * with one assignment, so a request sees either the old set or the new one, never a mix.
 */
export class PolicyStore {
  #current: LoadedPolicies;

  constructor(initial: CompiledPolicySet, loadedAt = new Date()) {
    this.#current = { set: initial, loadedAt };
  }

  get current(): LoadedPolicies {
    return this.#current;
  }

  replace(set: CompiledPolicySet, loadedAt = new Date()): void {
    this.#current = { set, loadedAt };
  }
}
