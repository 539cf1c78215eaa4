import { describe, expect, it } from 'vitest';
import { foldCase } from '../src/policy/fold-case.js';

describe('foldCase', () => {
  it('folds every code point as its upper case, lower case, NFC and NFKC forms fold', () => {
    const apart: string[] = [];
    for (let cp = 0; cp <= 0x10ffff; cp++) {
      if (cp >= 0xd800 && cp <= 0xdfff) continue;
      const c = String.fromCodePoint(cp);
      const folded = foldCase(c);
      const forms = [c.toUpperCase(), c.toLowerCase(), c.normalize('NFC'), c.normalize('NFKC'), c.toUpperCase().toLowerCase(), c.toLowerCase().toUpperCase()];
      const other = forms.find((form) => foldCase(form) !== folded);
      if (other !== undefined) apart.push(`U+${cp.toString(16).toUpperCase()} ${c} ${other}`);
    }
    expect(apart).toEqual([]);
  });

  it('folds names a backend would take for one action alike, and keeps others apart', () => {
    expect(['approve', 'Approve', 'APPROVE', 'ａｐｐｒｏｖｅ'].map(foldCase)).toEqual(Array(4).fill('approve'));
    expect(['share', 'ſhare', 'SHARE', 'ｓｈａｒｅ'].map(foldCase)).toEqual(Array(4).fill('share'));
    expect(['issue', 'ıssue', 'İssue', 'ISSUE'].map(foldCase)).toEqual(Array(4).fill('issue'));
    expect(['grüßen', 'grüẞen', 'GRÜSSEN'].map(foldCase)).toEqual(Array(3).fill(foldCase('grüssen')));
    expect(foldCase('ᾳ')).toBe(foldCase('αι'));
    expect(new Set(['read', 'reads', 'delete', 'update'].map(foldCase)).size).toBe(4);
  });

  it('takes any string, lone surrogates included', () => {
    expect(foldCase('a\ud800b')).toBe('a\ud800b');
    expect(foldCase('\udfff')).toBe('\udfff');
  });
});
