import { checkedTypeName, forEachNode, isAstNode } from './cel-ast.js';

/** A field or key a condition reads from a timestamp or a duration, which have none. */
export interface TimeMember {
  readonly type: 'timestamp' | 'duration';
  /** The name read (`hour` of `now.hour` or `now["hour"]`), when written as a literal. */
  readonly name?: string;
}

const timeTypes: ReadonlyMap<string, TimeMember['type']> = new Map([
  ['google.protobuf.Timestamp', 'timestamp'],
  ['google.protobuf.Duration', 'duration'],
]);

const selections = new Set(['.', '.?', '[]', '[?]']);

/** Whether the type check found `node` a timestamp or a duration, and which. */
export function timeTypeOf(node: unknown): TimeMember['type'] | undefined {
  return timeTypes.get(checkedTypeName(node) ?? '');
}

function memberName(member: unknown): string | undefined {
  if (typeof member === 'string') return member;
  return isAstNode(member) && member.op === 'value' && typeof member.args === 'string' ? member.args : undefined;
}

/**
 * The first field or key read from a timestamp or a duration in `ast`, a condition the library
 * has type-checked (each node then carries its `checkedType`). The library's check takes them for
 * messages of unknown fields, so `now.hour < 8` loaded, and failed on every request: a deny on it
 * applied to all of them, a permit never did. Their parts are read with the getters.
 */
export function timeMember(ast: unknown): TimeMember | undefined {
  let found: TimeMember | undefined;
  forEachNode(ast, ({ op, args }) => {
    if (found !== undefined || !selections.has(op) || !Array.isArray(args)) return;
    const type = timeTypeOf(args[0]);
    if (type === undefined) return;
    const name = memberName(args[1]);
    found = name === undefined ? { type } : { type, name };
  });
  return found;
}
