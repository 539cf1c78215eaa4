import { describe, expect, it } from 'vitest';
import { foldCase, foldCaseWithin, FoldedNames } from '../src/policy/fold-case.js';

describe('foldCase', () => {
  // Every code point and each of its forms that differs from it: about 2 s of one core (seven
  // folds for each, 10 s, took 30 s and more beside other test files).
  it('folds every code point as its upper case, lower case, NFC and NFKC forms fold', { timeout: 60_000 }, () => {
    const apart: string[] = [];
    for (let cp = 0; cp <= 0x10ffff; cp++) {
      if (cp >= 0xd800 && cp <= 0xdfff) continue;
      const c = String.fromCodePoint(cp);
      const folded = foldCase(c);
      const forms = [c.toUpperCase(), c.toLowerCase(), c.normalize('NFC'), c.normalize('NFKC'), c.toUpperCase().toLowerCase(), c.toLowerCase().toUpperCase()];
      // Most code points (unassigned, private use, most CJK) are each of their forms: only the others are folded.
      const other = forms.find((form) => form !== c && foldCase(form) !== folded);
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
    // A lone high surrogate, then a pair (𝐀, mathematical bold A), where the folding slices meet.
    expect(foldCase(`${'x'.repeat(31)}\ud800\u{1D400}`)).toBe(`${'x'.repeat(31)}\ud800a`);
    expect(foldCase(`${'x'.repeat(31)}\u{1D400}`)).toBe(`${'x'.repeat(31)}a`);
  });

  // Letters whose folding depends on their neighbours or expands, marks, invisible characters,
  // Hangul, astral letters (a surrogate pair each) and a lone surrogate.
  const alphabet = ['a', 'Σ', 'ς', 'σ', 'Ἀ', 'ᾳ', 'ß', 'ẞ', 'İ', 'ı', 'ſ', 'ﬁ', '\uFDFA', 'é', 'e\u0301', '\u0308', '\u00A8', ' ', '\u200B', '\u00AD', '한', '\u{1D400}', '\u{10400}', '\uD800', '-', 'Z'];
  const randomName = (random: () => number): string => Array.from({ length: 1 + Math.floor(random() * 150) }, () => alphabet[Math.floor(random() * alphabet.length)]).join('');
  const seeded = (seed: number) => () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);

  it('folds a name as its parts fold, wherever it is cut between code points', () => {
    const random = seeded(7);
    const apart: string[] = [];
    for (let i = 0; i < 5000; i++) {
      const name = randomName(random);
      let cut = Math.floor(random() * (name.length + 1));
      if (/[\ud800-\udbff]/.test(name.charAt(cut - 1)) && /[\udc00-\udfff]/.test(name.charAt(cut))) cut += 1;
      if (foldCase(name) !== foldCase(name.slice(0, cut)) + foldCase(name.slice(cut))) apart.push(JSON.stringify([name.slice(0, cut), name.slice(cut)]));
    }
    expect(apart).toEqual([]);
    expect(foldCase('ΟΔΟΣ')).toBe(foldCase('οδος'));
    expect(foldCase('οδοσ')).toBe(foldCase('οδος'));
  });

  it('folds within a length, or says the name folds longer', () => {
    const random = seeded(11);
    for (let i = 0; i < 500; i++) {
      const name = randomName(random);
      const folded = foldCase(name);
      for (const max of [0, folded.length - 1, folded.length, folded.length + 5, 100]) {
        expect(foldCaseWithin(name, max)).toBe(folded.length <= max ? folded : undefined);
      }
    }
  });

  it('looks up a name held in another case, and no other', () => {
    const names = new FoldedNames<string>();
    expect(names.holding('approve', () => 'approve')).toBe('approve');
    expect(names.holding('Approve', () => 'other')).toBe('approve');
    expect(names.get('ＡＰＰＲＯＶＥ')).toBe('approve');
    expect(names.get('appro\u200Bve ')).toBe('approve');
    expect(names.get('approved')).toBeUndefined();
    expect(names.get('\uFDFA'.repeat(1024))).toBeUndefined();
    expect(new FoldedNames<string>().get('a')).toBeUndefined();
  });
});
