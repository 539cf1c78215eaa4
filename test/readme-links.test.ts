import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { describe, it } from 'vitest';

/**
 * The in-page links of the Markdown documents (`[text](#anchor)`, the README's contents among
 * them) each name a heading of the same document, by the anchor GitHub gives it: lower case, the
 * characters other than letters, digits, spaces, `-` and `_` left out, spaces as `-`, and a
 * heading met before under the same anchor taking `-1`, `-2`… after it.
 */
const documents = ['README.md', 'BENCHMARKS.md', 'RELIABILITY.md', 'SECURITY.md'];

/** The headings of `markdown` in order, each with its level and anchor. */
function headings(markdown: string): { level: number; anchor: string }[] {
  const seen = new Map<string, number>();
  // Headings outside fenced blocks: a `# comment` in a shell example is none.
  const prose = markdown.replace(/```[\s\S]*?```/g, '');
  return [...prose.matchAll(/^(#{1,6}) (.+)$/gm)].map(([, hashes, title]) => {
    const base = (title ?? '').toLowerCase().replace(/[^\p{L}\p{N} _-]/gu, '').replace(/ /g, '-');
    const count = seen.get(base) ?? 0;
    seen.set(base, count + 1);
    return { level: hashes?.length ?? 0, anchor: count === 0 ? base : `${base}-${count}` };
  });
}

describe('in-page links of the documents', () => {
  it.for(documents)('every link of %s names a heading of it', async (name, { expect }) => {
    const markdown = await readFile(resolve(import.meta.dirname, '..', name), 'utf8');
    const known = new Set(headings(markdown).map((heading) => heading.anchor));
    const links = [...markdown.replace(/```[\s\S]*?```/g, '').matchAll(/\]\(#([^)\s]+)\)/g)].map((m) => m[1] ?? '');
    expect(links.filter((anchor) => !known.has(anchor))).toEqual([]);
  });

  it('README.md lists its sections and their parts (## and ###) in its contents, in order', async ({ expect }) => {
    const markdown = await readFile(resolve(import.meta.dirname, '../README.md'), 'utf8');
    const contents = /^## Contents\n\n([\s\S]*?)\n\n/m.exec(markdown)?.[1] ?? '';
    const listed = [...contents.matchAll(/\]\(#([^)]+)\)/g)].map((m) => m[1]);
    const sections = headings(markdown).filter(({ level, anchor }) => (level === 2 || level === 3) && anchor !== 'contents').map(({ anchor }) => anchor);
    expect(listed).toEqual(sections);
  });
});
