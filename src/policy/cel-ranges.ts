import { Duration } from '@marcbachmann/cel-js/evaluator';
import { forEachNode, onOperands, operatorOf, setCheck, setEvaluation, type AstNode, type BoundNode, type Evaluator } from './cel-ast.js';
import { maxInt, maxTimestampMs, minInt, minTimestampMs } from './cel-spec-functions.js';
import { timeTypeOf } from './cel-time-members.js';

/**
 * Where a condition's arithmetic is held to the ranges CEL defines (langdef.md, "Overflow": an
 * error when a result leaves the range of its type), beyond what the library (cel-js 8) checks.
 * The library has no way to replace an operator, so the evaluation of the nodes concerned is set
 * on the parsed condition (cel-ast.ts), before it is first evaluated.
 * - Ints: `+`, `-` and `*` are errors past int64 in the library, but `-9223372036854775808 / -1`
 *   was 2^63, `-9223372036854775808 % -1` 0 and `-x` of that int 2^63, where cel-go fails with
 *   "integer overflow": `int(a) / int(b) < -1000`, a deny rule, did not apply to a = -2^63,
 *   b = -1. The parser also read an int literal beyond int64 (`9223372036854775808`), which
 *   CEL's does not: such a literal is refused at load, but as the operand of `-`.
 * - Timestamps and durations: the library added and subtracted them without a bound (a
 *   timestamp in the year 10000, a duration of 600 years), and wrongly when a duration is
 *   negative with a fraction of a second (`duration("-1.5s") + duration("1s")` was -1.5s).
 *   Here they are computed in nanoseconds, exactly, and a timestamp must lie from
 *   0001-01-01T00:00:00Z to 9999-12-31T23:59:59.999999999Z, a duration within ±2^63 ns (about
 *   292 years), as cel-go holds one (Go's time.Duration), and as duration() reads one: so the
 *   span of all timestamps is an error, as the cel-spec conformance tests have it. Timestamps
 *   keep milliseconds (JavaScript Dates), so a result is the millisecond its instant falls in.
 * - Durations are ordered (`<`, `<=`, `>`, `>=`) by their nanoseconds, exactly: the library
 *   compared them as doubles of milliseconds, which past ~200 days no longer tell 1 ns apart,
 *   nor 200 ns past 100 years: `duration(d) > duration("876000h")`, a deny rule, did not apply
 *   to d = "876000h1ns", and `<=` held for it.
 * - A NaN has no place in the order of numbers: `<`, `<=`, `>` and `>=` with one are an error, as
 *   in cel-go ("NaN values cannot be ordered"). The library held each false, so a deny rule
 *   `double(resource.properties.amount) > 10000.0` did not apply to an amount of "NaN", and a
 *   permit `!(a / b > 500.0)` held for a = b = 0.
 */

const nanosPerSecond = 1_000_000_000n;
const nanosPerMs = 1_000_000n;
const minTimestampNanos = BigInt(minTimestampMs) * nanosPerMs;
const maxTimestampNanos = BigInt(maxTimestampMs) * nanosPerMs + nanosPerMs - 1n;

/** `-x`: an error for the one int whose negation is not an int. */
function negation(ev: Evaluator, node: BoundNode, ctx: unknown): unknown {
  const value = ev.run(node.args, ctx);
  if (value === minInt) throw new Error(`integer overflow: -(${minInt})`);
  return operatorOf(node)(value, node, ev);
}

/** `a / b` or `a % b`: an error for the one pair of ints whose quotient is not an int. */
const division = onOperands((left, right, node, ev) => {
  if (left === minInt && right === -1n) throw new Error(`integer overflow: ${minInt} ${node.op} -1`);
  return operatorOf(node)(left, right, node, ev);
});

const nanosOf = (duration: Duration): bigint => duration.seconds * nanosPerSecond + BigInt(duration.nanos);

/** A duration of `nanos` ns, its seconds and nanoseconds of one sign, as duration() makes them (and `==` compares them). */
function durationOf(nanos: bigint): Duration {
  if (nanos < minInt || nanos > maxInt) throw new Error('duration overflow: the result is beyond ±2^63 nanoseconds (about 292 years)');
  return new Duration(nanos / nanosPerSecond, Number(nanos % nanosPerSecond));
}

/** `time` moved by `nanos` ns, in the millisecond the instant falls in. */
function timestampOf(time: Date, nanos: bigint): Date {
  const instant = BigInt(time.getTime()) * nanosPerMs + nanos;
  if (instant < minTimestampNanos || instant > maxTimestampNanos) {
    throw new Error('timestamp overflow: the result is outside 0001-01-01T00:00:00Z to 9999-12-31T23:59:59.999999999Z');
  }
  // Rounded down: BigInt division rounds toward zero, up for an instant before 1970.
  const ms = instant / nanosPerMs;
  return new Date(Number(ms * nanosPerMs > instant ? ms - 1n : ms));
}

/** `a + b`: durations added to each other or to a timestamp in range; anything else as the library adds it. */
const sum = onOperands((left, right, node, ev) => {
  if (left instanceof Duration) {
    if (right instanceof Duration) return durationOf(nanosOf(left) + nanosOf(right));
    if (right instanceof Date) return timestampOf(right, nanosOf(left));
  } else if (left instanceof Date && right instanceof Duration) {
    return timestampOf(left, nanosOf(right));
  }
  return operatorOf(node)(left, right, node, ev);
});

/** `a - b`: durations and timestamps subtracted in range; anything else as the library subtracts it. */
const difference = onOperands((left, right, node, ev) => {
  if (left instanceof Duration && right instanceof Duration) return durationOf(nanosOf(left) - nanosOf(right));
  if (left instanceof Date) {
    if (right instanceof Duration) return timestampOf(left, -nanosOf(right));
    if (right instanceof Date) return durationOf(BigInt(left.getTime() - right.getTime()) * nanosPerMs);
  }
  return operatorOf(node)(left, right, node, ev);
});

const orderings = new Set(['<', '<=', '>', '>=']);

/**
 * `a < b`, `a <= b`, `a > b` or `a >= b`: an error with a NaN, durations by their nanoseconds,
 * anything else as the library orders it.
 */
const ordering = onOperands((left, right, node, ev) => {
  if (Number.isNaN(left) || Number.isNaN(right)) throw new Error('NaN values cannot be ordered');
  if (left instanceof Duration && right instanceof Duration) {
    const [a, b] = [nanosOf(left), nanosOf(right)];
    return node.op === '<' ? a < b : node.op === '<=' ? a <= b : node.op === '>' ? a > b : a >= b;
  }
  return operatorOf(node)(left, right, node, ev);
});

function isIntLiteral(node: unknown): node is AstNode & { readonly args: bigint } {
  return typeof node === 'object' && node !== null && (node as AstNode).op === 'value' && typeof (node as AstNode).args === 'bigint';
}

/** The first int literal in `ast` beyond int64 (as written, `-` included), if there is one. */
export function intLiteralBeyondInt64(ast: unknown): string | undefined {
  let found: string | undefined;
  const negated = new Set<unknown>();
  forEachNode(ast, (node) => {
    if (node.op === '-_' && isIntLiteral(node.args)) negated.add(node.args);
    if (found !== undefined || !isIntLiteral(node)) return;
    const value = negated.has(node) ? -node.args : node.args;
    if (value < minInt || value > maxInt) found = String(value);
  });
  return found;
}

/**
 * Types `duration + timestamp` as the timestamp it makes, as `timestamp + duration` is, on the
 * nodes of `ast`, a condition parsed and not yet checked. The library types a sum as its left
 * operand, so what read this one (a getter, an ordering, `type()`) took the timestamp for a
 * duration: `(duration("1h") + t).getHours() == 18` was false at 18:30, and
 * `duration("1h") + t > now` was refused at load.
 */
export function typeTimeSums(ast: unknown): void {
  forEachNode(ast, (node) => {
    if (node.op !== '+') return;
    setCheck(node, (check) => (checker, sum, ctx) => {
      const type = check(checker, sum, ctx);
      const [left, right] = sum.args as [{ readonly checkedType?: unknown }, { readonly checkedType?: unknown }];
      const dyn = (checker as { readonly dynType?: unknown }).dynType;
      if (timeTypeOf(right) === 'timestamp' && (timeTypeOf(left) === 'duration' || left.checkedType === dyn)) return right.checkedType;
      // A duration plus a value of any type: a duration or a timestamp, as the value turns out.
      return timeTypeOf(left) === 'duration' && right.checkedType === dyn ? dyn : type;
    });
  });
}

/** Sets the range-checked evaluations on the nodes of `ast`, a condition parsed and not yet evaluated. */
export function evaluateInRange(ast: unknown): void {
  forEachNode(ast, (node) => {
    if (node.op === '-_') setEvaluation(node, negation);
    if (node.op === '/' || node.op === '%') setEvaluation(node, division);
    if (node.op === '+') setEvaluation(node, sum);
    if (node.op === '-') setEvaluation(node, difference);
    if (orderings.has(node.op)) setEvaluation(node, ordering);
  });
}
