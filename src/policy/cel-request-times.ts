import { isAstNode, writtenOf, type AstNode } from './cel-ast.js';
import { firstOverRequestValues, isRequestValue } from './cel-request-values.js';
import { timeFieldNames } from './cel-time-fields.js';
import { timeTypeOf, type TimeMember } from './cel-time-members.js';

/** A value of the request used as a timestamp or a duration: `resource.properties.due` of `resource.properties.due < now`. */
export interface RequestTime {
  /** The value, as the condition writes it. */
  readonly written: string;
  /** What it is used as. */
  readonly type: TimeMember['type'];
}

/** The operators that take a timestamp or a duration on one side only with another on the other. */
const timeOperators = new Set(['<', '<=', '>', '>=', '+', '-']);

function found(node: AstNode, source: string, type: TimeMember['type']): RequestTime | undefined {
  const written = writtenOf(node, source);
  return written === undefined ? undefined : { written, type };
}

/**
 * The first value of the request in `node`, a condition written as `source` that the library has
 * type-checked, compared with or added to a timestamp or a duration (`resource.properties.due <
 * now`), or read with a timestamp's getter (`context.since.getHours()`). A request's values are
 * JSON (a string, number, bool, null, list or map): each such use is an error on every request,
 * as the check cannot tell at load (it types them `dyn`), so a deny on it applied to every
 * request and a permit never did. A text is read as a time with `timestamp()` or `duration()`.
 */
export function requestTime(node: unknown, source: string): RequestTime | undefined {
  return firstOverRequestValues(node, (at, names) => {
    const args = at.args as unknown[];
    if (timeOperators.has(at.op) && args.length === 2) {
      const [left, right] = args;
      const leftTime = timeTypeOf(left);
      const rightTime = timeTypeOf(right);
      if (leftTime !== undefined && isAstNode(right) && isRequestValue(right, names)) return found(right, source, leftTime);
      if (rightTime !== undefined && isAstNode(left) && isRequestValue(left, names)) return found(left, source, rightTime);
    }
    const [name, first] = args;
    if (at.op === 'rcall' && typeof name === 'string' && timeFieldNames.has(name) && isAstNode(first) && isRequestValue(first, names)) {
      return found(first, source, 'timestamp');
    }
    return undefined;
  });
}
