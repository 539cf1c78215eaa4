import { forEachNode, isAstNode, writtenOf, type AstNode } from './cel-ast.js';
import { timeTypeOf } from './cel-time-members.js';

/** A timestamp getter compared with a number it never returns (`now.getMonth() == 12`). */
export interface GetterOutOfRange {
  /** The comparison, as the condition writes it. */
  readonly written: string;
  readonly op: '==' | '!=' | 'in';
  /** The getter's name: `getMonth`. */
  readonly getter: string;
  /** The number it never returns, as the condition writes it. */
  readonly literal: string;
  /** What the getter returns: `from 0 (January) to 11 (December)`. */
  readonly counts: string;
}

interface Range {
  readonly min: number;
  readonly max: number;
  readonly counts: string;
}

/**
 * What each getter of a timestamp returns, in UTC or in any time zone given to it (cel-spec's
 * "Timestamp/duration functions"). `getFullYear` is left out: in a time zone east or west of UTC,
 * a timestamp at either end of CEL's range is in the year 0 or 10000.
 */
const ranges: ReadonlyMap<string, Range> = new Map([
  ['getMonth', { min: 0, max: 11, counts: 'from 0 (January) to 11 (December)' }],
  ['getDayOfYear', { min: 0, max: 365, counts: 'from 0 to 365' }],
  ['getDayOfMonth', { min: 0, max: 30, counts: 'from 0 to 30 (getDate() counts from 1)' }],
  ['getDate', { min: 1, max: 31, counts: 'from 1 to 31 (getDayOfMonth() counts from 0)' }],
  ['getDayOfWeek', { min: 0, max: 6, counts: 'from 0 (Sunday) to 6 (Saturday)' }],
  ['getHours', { min: 0, max: 23, counts: 'from 0 to 23' }],
  ['getMinutes', { min: 0, max: 59, counts: 'from 0 to 59' }],
  ['getSeconds', { min: 0, max: 59, counts: 'from 0 to 59' }],
  ['getMilliseconds', { min: 0, max: 999, counts: 'from 0 to 999' }],
]);

/** The getter `node` calls on a timestamp, with what it returns; undefined for anything else (a duration's getters among them). */
function timestampGetter(node: unknown): { readonly getter: string; readonly range: Range } | undefined {
  if (!isAstNode(node) || node.op !== 'rcall' || !Array.isArray(node.args)) return undefined;
  const [getter, receiver] = node.args as [unknown, unknown];
  if (typeof getter !== 'string' || timeTypeOf(receiver) !== 'timestamp') return undefined;
  const range = ranges.get(getter);
  return range === undefined ? undefined : { getter, range };
}

/** The number `node` writes, when it is a number literal, negated or not. */
function numberLiteral(node: unknown): number | undefined {
  if (!isAstNode(node)) return undefined;
  if (node.op === '-_') {
    const negated = numberLiteral(node.args);
    return negated === undefined ? undefined : -negated;
  }
  if (node.op !== 'value') return undefined;
  return typeof node.args === 'bigint' || typeof node.args === 'number' ? Number(node.args) : undefined;
}

/** `node` when it is a number literal `range` never holds. */
function outside(node: unknown, range: Range): AstNode | undefined {
  const value = numberLiteral(node);
  if (value === undefined || (Number.isInteger(value) && value >= range.min && value <= range.max)) return undefined;
  return node as AstNode;
}

/**
 * The first comparison in `ast`, a condition written as `source` that the library has
 * type-checked, of a timestamp's getter with a number literal it never returns, by `==` or `!=`
 * (false or true on every request), or `in` a list literal holding one (never found): CEL counts
 * months and days of the week and of the month from 0, so `now.getMonth() == 12` meant for
 * December, or `now.getDayOfWeek() in [6, 7]` meant for the weekend, loaded, and a deny rule on it
 * never applied in December, or on Sundays. Ordering comparisons are left alone.
 */
export function getterOutOfRange(ast: unknown, source: string): GetterOutOfRange | undefined {
  let found: GetterOutOfRange | undefined;
  forEachNode(ast, (at) => {
    if (found !== undefined || !Array.isArray(at.args) || at.args.length !== 2) return;
    const [left, right] = at.args as [unknown, unknown];
    let match: { readonly getter: string; readonly range: Range; readonly literal: AstNode } | undefined;
    if (at.op === '==' || at.op === '!=') {
      const called = timestampGetter(left) ?? timestampGetter(right);
      const literal = called === undefined ? undefined : outside(timestampGetter(left) === undefined ? left : right, called.range);
      if (called !== undefined && literal !== undefined) match = { ...called, literal };
    } else if (at.op === 'in' && isAstNode(right) && right.op === 'list' && Array.isArray(right.args)) {
      const called = timestampGetter(left);
      const elements = right.args as unknown[];
      const literal = called === undefined ? undefined : elements.map((element) => outside(element, called.range)).find((node) => node !== undefined);
      if (called !== undefined && literal !== undefined) match = { ...called, literal };
    }
    if (match === undefined) return;
    const written = writtenOf(at, source);
    const literal = writtenOf(match.literal, source);
    if (written === undefined || literal === undefined) return;
    found = { written, op: at.op as GetterOutOfRange['op'], getter: match.getter, literal, counts: match.range.counts };
  });
  return found;
}
