import { z } from 'zod';

/** `char` as `U+200B`. */
export const codePoint = (char: string) => `U+${(char.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, '0')}`;

/**
 * Why `value`, a setting compared exactly with what a token holds, can hold nothing a token
 * does, or undefined when it may: a control or invisible character in it (a zero-width space or
 * a soft hyphen from a web page, a BOM), which no issuer sends.
 */
export function unseenCharacterProblem(value: string): string | undefined {
  const unseen = /[\p{Cc}\p{Cf}\p{Default_Ignorable_Code_Point}]/u.exec(value)?.[0];
  return unseen === undefined ? undefined : `holds a control or invisible character (${codePoint(unseen)})`;
}

/**
 * Why `value`, a setting compared exactly with what a token holds (an `iss`, an `aud`, a claim's
 * name), can equal nothing a token holds, or undefined when it may: whitespace around it, which
 * a copy picks up on the way (a space from a ConfigMap), or what `unseenCharacterProblem`
 * refuses. Whitespace within is taken: `Acme IdP` may be a name.
 */
export function exactNameProblem(value: string): string | undefined {
  const edge = /^\s|\s$/u.exec(value)?.[0];
  if (edge !== undefined) return `${value.startsWith(edge) ? 'begins' : 'ends'} with whitespace (${codePoint(edge)})`;
  return unseenCharacterProblem(value);
}

/** A non-empty setting refused, with what `problem` says of it, where `problem` finds one. */
export function refusedBy(problem: (value: string) => string | undefined) {
  return z.string().min(1).superRefine((value, ctx) => {
    const found = problem(value);
    if (found !== undefined) ctx.addIssue({ code: 'custom', message: found });
  });
}
