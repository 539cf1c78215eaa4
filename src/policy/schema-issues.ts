import { z, type ZodType } from 'zod';
import { isJsonObject } from '../json-object.js';
import { pacer } from '../pace.js';

/** One problem of a value against its schema, as zod words it. */
export interface SchemaIssue {
  readonly path: readonly PropertyKey[];
  readonly message: string;
}

/** A value against its schema: what zod makes of it, or its problems. */
export type SchemaCheck<T> = { readonly ok: true; readonly data: T } | { readonly ok: false; readonly issues: readonly SchemaIssue[] };

type Container = z.ZodObject | z.ZodArray;

/** What a value of each JSON type zod names is, in an author's words. */
const typeWords: Readonly<Record<string, string>> = { array: 'a list', object: 'an object', string: 'a string', number: 'a number', boolean: 'true or false' };

/**
 * A member of a file that is required and not there is said to be missing: zod took it for one
 * of another value (`Invalid option: expected one of "permit"|"deny"` for a rule without
 * `effect`) or of another type (`expected array, received undefined`). JSON holds no
 * undefined, so an input of undefined is a member left out.
 */
const missingMembers = {
  error: (issue: z.core.$ZodRawIssue): string | undefined => {
    if (issue.input !== undefined) return undefined;
    if (issue.code === 'invalid_type') return `missing: required, ${typeWords[issue.expected] ?? issue.expected}`;
    if (issue.code === 'invalid_value') {
      const values = issue.values.map((value) => JSON.stringify(value));
      return `missing: required, ${values.length === 1 ? '' : `one of ${values.slice(0, -1).join(', ')} or `}${values.at(-1) ?? ''}`;
    }
    if (issue.code !== 'invalid_union') return undefined;
    const types = issue.errors.flatMap(([first]) => (first?.code === 'invalid_type' ? [typeWords[first.expected] ?? first.expected] : []));
    return types.length === 0 ? 'missing: required' : `missing: required, ${types.join(' or ')}`;
  },
};

/** Whether `branch`, a union member's issues, says only that the value is not of its type at all. */
const ofAnotherType = (branch: readonly z.core.$ZodIssue[]): boolean => branch.length === 1 && branch[0]?.code === 'invalid_type' && branch[0].path.length === 0;

/**
 * zod's issues, each of a union that the value is of one member's type only replaced by that
 * member's own: an action (a name, or an object with a name) of `{"name": 5}` was `$.action:
 * Invalid input`, naming neither the field at fault nor what is wrong with it, where it is
 * `$.action.name: Invalid input: expected string, received number`. A value of no member's
 * type keeps the union's issue.
 */
function resolved(issues: readonly z.core.$ZodIssue[]): SchemaIssue[] {
  return issues.flatMap((issue): SchemaIssue[] => {
    const matching = issue.code === 'invalid_union' ? issue.errors.filter((branch) => !ofAnotherType(branch)) : [];
    const [branch] = matching;
    if (matching.length !== 1 || branch === undefined) return [issue];
    return resolved(branch).map((inner) => ({ path: [...issue.path, ...inner.path], message: inner.message }));
  });
}

/** The object or array schema `schema` is, optional or not; undefined for anything else. */
function containerOf(schema: unknown): Container | undefined {
  const inner: unknown = schema instanceof z.ZodOptional ? schema.unwrap() : schema;
  return inner instanceof z.ZodObject || inner instanceof z.ZodArray ? inner : undefined;
}

/**
 * Values of JSON (objects, arrays and plain values alike) up to which a part is given to zod
 * whole. A part that size makes a few hundred problems at most (an empty name breaks two
 * checks, `{}` misses each required member), so refusing a file costs no more than about
 * `limit` + 1 such parts; a larger part is checked a level at a time.
 */
const wholeUpTo = 100;

/** How many values `value` holds, itself included, counted no further than past `budget`. */
function sizeOf(value: unknown, budget: number): number {
  let size = 1;
  if (typeof value !== 'object' || value === null) return size;
  if (Array.isArray(value)) {
    for (let index = 0; index < value.length && size <= budget; index++) size += sizeOf(value[index], budget - size);
  } else {
    for (const key in value) {
      if (size > budget) break;
      size += sizeOf((value as Record<string, unknown>)[key], budget - size);
    }
  }
  return size;
}

/**
 * Where the run of elements of `list` from `start` ends: as many as hold `wholeUpTo` values
 * together, given to zod at once (a list of 1,000 names is ten parses, not a thousand), or the
 * one element at `start` when it alone holds more.
 */
function runEnd(list: readonly unknown[], start: number): number {
  let end = start;
  for (let size = 0; end < list.length; end++) {
    size += sizeOf(list[end], wholeUpTo - size);
    if (size > wholeUpTo) break;
  }
  return Math.max(end, start + 1);
}

const anything = z.unknown().optional();
const ownLevels = new WeakMap<Container, ZodType>();
const refinements = new WeakMap<z.ZodObject, ZodType>();
const elementLists = new WeakMap<z.ZodArray, z.ZodArray>();

/** A list of `schema`'s elements, without its bounds on length: a run of them is checked at once. */
function elementsOf(schema: z.ZodArray): z.ZodArray {
  let found = elementLists.get(schema);
  if (found === undefined) {
    found = z.array(schema.element);
    elementLists.set(schema, found);
  }
  return found;
}

/**
 * `schema` checking its own level alone: an array's length, or an object's keys and plain
 * members, with each member that is an object or array taken as anything (it is checked on
 * its own) and without the object's refinements: they see the object once all the rest passed
 * (so a file with an unknown key and no test case is told of the case once the key is gone).
 */
function ownLevel(schema: Container): ZodType {
  let found = ownLevels.get(schema);
  if (found === undefined) {
    if (schema instanceof z.ZodArray) {
      found = schema.clone({ ...schema.def, element: z.unknown() });
    } else {
      const shape = Object.fromEntries(Object.entries(schema.shape).map(([key, member]) => [key, containerOf(member) === undefined ? member : anything]));
      found = schema.clone({ ...schema.def, shape, checks: [] });
    }
    ownLevels.set(schema, found);
  }
  return found;
}

/** The refinements of an object schema alone, for a value whose members passed. */
function refinementsOf(schema: z.ZodObject): ZodType {
  let found = refinements.get(schema);
  if (found === undefined) {
    const any = z.unknown();
    found = any.clone({ ...any.def, checks: schema.def.checks ?? [] });
    refinements.set(schema, found);
  }
  return found;
}

class Collector {
  readonly issues: SchemaIssue[] = [];
  readonly #pace = pacer();
  constructor(readonly limit: number) {}

  get full(): boolean {
    return this.issues.length > this.limit;
  }

  push(path: readonly PropertyKey[], issues: readonly SchemaIssue[]): void {
    for (const issue of issues) this.issues.push({ path: [...path, ...issue.path], message: issue.message });
  }

  /** zod's data for `value`, or undefined once it has pushed its problems (or the limit is reached). */
  async check(value: unknown, schema: ZodType, path: readonly PropertyKey[]): Promise<{ readonly data: unknown } | undefined> {
    if (this.full) return undefined;
    const container = containerOf(schema);
    if (container instanceof z.ZodArray && Array.isArray(value) && sizeOf(value, wholeUpTo) > wholeUpTo) return this.#array(value, container, path);
    if (container instanceof z.ZodObject && isJsonObject(value) && sizeOf(value, wholeUpTo) > wholeUpTo) return this.#object(value, container, path);
    await this.#pace();
    return this.#parsed(schema.safeParse(value, missingMembers), path);
  }

  #parsed(result: z.ZodSafeParseResult<unknown>, path: readonly PropertyKey[]): { readonly data: unknown } | undefined {
    if (result.success) return { data: result.data };
    this.push(path, resolved(result.error.issues));
    return undefined;
  }

  async #array(value: readonly unknown[], schema: z.ZodArray, path: readonly PropertyKey[]): Promise<{ readonly data: unknown } | undefined> {
    const own = ownLevel(schema).safeParse(value, missingMembers);
    // A list of the wrong length is reported as such; its elements are not looked at.
    if (!own.success) return this.#parsed(own, path);
    const data: unknown[] = [];
    let failed = false;
    for (let start = 0, end = 0; start < value.length && !this.full; start = end) {
      end = runEnd(value, start);
      if (end === start + 1) {
        const checked = await this.check(value[start], schema.element as ZodType, [...path, start]);
        if (checked === undefined) failed = true;
        else data.push(checked.data);
      } else {
        await this.#pace();
        const checked = this.#run(value.slice(start, end), schema, path, start);
        if (checked === undefined) failed = true;
        else data.push(...checked);
      }
    }
    return failed ? undefined : { data };
  }

  /** Elements `from` on of a list, given to zod at once. */
  #run(run: readonly unknown[], schema: z.ZodArray, path: readonly PropertyKey[], from: number): readonly unknown[] | undefined {
    const result = elementsOf(schema).safeParse(run, missingMembers);
    if (result.success) return result.data;
    for (const { path: [index, ...rest], message } of resolved(result.error.issues)) this.issues.push({ path: [...path, from + Number(index), ...rest], message });
    return undefined;
  }

  async #object(value: Record<string, unknown>, schema: z.ZodObject, path: readonly PropertyKey[]): Promise<{ readonly data: unknown } | undefined> {
    const own = ownLevel(schema).safeParse(value, missingMembers);
    const ownIssues: readonly SchemaIssue[] = own.success ? [] : resolved(own.error.issues);
    // A new object, zod's: the members checked on their own go in as they come out.
    const data: Record<string, unknown> = own.success ? (own.data as Record<string, unknown>) : {};
    const before = this.issues.length;
    const shape = schema.shape as Record<string, ZodType>;
    // In zod's order: the members as the schema lists them, then the keys it does not know.
    for (const [key, member] of Object.entries(shape)) {
      if (containerOf(member) === undefined) {
        this.push(path, ownIssues.filter((issue) => issue.path[0] === key));
        continue;
      }
      const checked = await this.check(value[key], member, [...path, key]);
      if (checked !== undefined && Object.hasOwn(value, key)) data[key] = checked.data;
    }
    this.push(path, ownIssues.filter((issue) => typeof issue.path[0] !== 'string' || !Object.hasOwn(shape, issue.path[0])));
    return this.issues.length === before ? this.#parsed(refinementsOf(schema).safeParse(data, missingMembers), path) : undefined;
  }
}

/**
 * `value` against `schema`: zod's data, or its problems in zod's words and order, but no more
 * than about `limit` + 1 of them. zod reports every problem at once, so a file of a million bad
 * elements (a data file of `{}`, a test file of 10,000 `{}` cases per group, rules of 1,000
 * empty action names each) made millions of issues, gigabytes and tens of seconds before the
 * list was cut: here the parts of a value beyond `wholeUpTo` values are checked a level at a
 * time, an object's object and array members on their own and a list's elements in runs of up
 * to `wholeUpTo` values, stopping past `limit` problems, so the work to refuse a value is bounded
 * by `limit`, not by how many problems it has. A list of the wrong length is reported without
 * looking at its elements. Between parts the event loop turns every 5 ms (`pacer`): a data file
 * of 16 MiB took 75–250 ms to check in one piece.
 */
export async function checkSchema<T>(value: unknown, schema: ZodType<T>, limit: number): Promise<SchemaCheck<T>> {
  const collector = new Collector(limit);
  const checked = await collector.check(value, schema, []);
  // The data is zod's own, put together from its parts: the schema's output type.
  return checked === undefined ? { ok: false, issues: collector.issues } : { ok: true, data: checked.data as T };
}
