import fc from 'fast-check';

/** CEL conditions built from `leaf`: nested `&&`, `||` and `!` over it, kept small. */
export function conditionOf(leaf: fc.Arbitrary<string>): fc.Arbitrary<string> {
  return fc.letrec<{ expr: string }>((tie) => ({
    expr: fc.oneof(
      { depthSize: 'small', withCrossShrink: true },
      leaf,
      fc.tuple(tie('expr'), fc.constantFrom('&&', '||'), tie('expr')).map(([l, op, r]) => `(${l} ${op} ${r})`),
      tie('expr').map((e) => `!(${e})`),
    ),
  })).expr;
}
