import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';

const made: string[] = [];

afterAll(async () => {
  await Promise.all(made.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
});

/**
 * A fresh temporary directory holding `files` (name → JSON value, or raw text when a string),
 * removed after the test file's last test.
 */
export async function tempDir(files: Readonly<Record<string, unknown>> = {}): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'invoice-pdp-test-'));
  made.push(dir);
  for (const [name, content] of Object.entries(files)) {
    await writeFile(join(dir, name), typeof content === 'string' ? content : JSON.stringify(content, null, 2));
  }
  return dir;
}
