import type { ConditionVariables } from './cel.js';

/**
 * Request data as the CEL library can type it. cel-js tells a value's type by its
 * `constructor`, so a JSON object with a member named "constructor" (legal JSON: a claim or
 * attribute may be called that) is taken for an instance of an unknown class, and every
 * condition that reads it fails. Such objects become Maps, which CEL reads as the same map:
 * `r.constructor`, `r.region`, `"region" in r` and `has(r.region)` all work on them.
 */

/** `value` with every object that has an own `constructor` member turned into a Map, copying only what leads to one; `value` itself when there is none. */
function typableByCel(value: unknown): unknown {
  if (typeof value !== 'object' || value === null || value instanceof Date) return value;
  if (Array.isArray(value)) {
    let copy: unknown[] | undefined;
    for (let i = 0; i < value.length; i++) {
      const item: unknown = value[i];
      const typed = typableByCel(item);
      if (typed !== item) (copy ??= [...value])[i] = typed;
    }
    return copy ?? value;
  }
  const record = value as Record<string, unknown>;
  let changed = false;
  // Entries rather than assignments: a `__proto__` member stays a member, never a prototype.
  const entries = Object.keys(record).map((key): [string, unknown] => {
    const member = record[key];
    const typed = typableByCel(member);
    if (typed !== member) changed = true;
    return [key, typed];
  });
  if (Object.hasOwn(record, 'constructor')) return new Map(entries);
  return changed ? Object.fromEntries(entries) : value;
}

/**
 * `transform`, made once per object it is given and kept while the object lives (a value that
 * is not an object is returned as is). Request values are never changed once made, so a
 * request pays for a walk of what it sent once, however many conditions or batch items read it.
 */
export function oncePerObject(transform: (value: object) => unknown): (value: unknown) => unknown {
  const made = new WeakMap<object, unknown>();
  return (value) => {
    if (typeof value !== 'object' || value === null) return value;
    let result = made.get(value);
    if (result === undefined) {
      result = transform(value);
      made.set(value, result);
    }
    return result;
  };
}

/**
 * Each request value as made typable, once: the walk reads all of it, and every condition that
 * fails on a request would otherwise repeat it (each rule, each item of a batch sharing a
 * context), so the request paid for its size once per failing condition.
 */
const typableOnce = oncePerObject(typableByCel);

/** `vars` with request data the CEL library can type, or `vars` itself when it already could. */
export function typableVariables(vars: ConditionVariables): ConditionVariables {
  const subject = typableOnce(vars.subject);
  const resource = typableOnce(vars.resource);
  const action = typableOnce(vars.action);
  const context = typableOnce(vars.context);
  if (subject === vars.subject && resource === vars.resource && action === vars.action && context === vars.context) return vars;
  return { subject, resource, action, context, now: vars.now };
}
