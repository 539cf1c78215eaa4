import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';

const logger = pathToFileURL(resolve(import.meta.dirname, '../dist/logger.js')).href;

/** The stderr of a process that logs `script`'s lines through the service's logger. */
async function stderrOf(script: string): Promise<string> {
  const child = spawn(process.execPath, ['--input-type=module', '-e', `import { createLogger } from '${logger}';\nconst log = createLogger('info');\n${script}`], { stdio: ['ignore', 'ignore', 'pipe'] });
  let text = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
  await new Promise((done) => child.once('close', done));
  return text;
}

describe('the application log on stderr', () => {
  it('writes a line over 1 MiB when nothing waits to be written, and says nothing was dropped', async () => {
    // A rejected reload's line with every problem was such a line: dropped, with a note saying
    // stderr was not read, which a file being written could not explain.
    const text = await stderrOf(`log.error({ issues: 'x'.repeat(2 * 1024 * 1024) }, 'big');\nsetTimeout(() => log.info('after'), 100);`);
    const lines = text.trimEnd().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(lines.map((line) => line['msg'])).toEqual(['big', 'after']);
    expect((lines[0]?.['issues'] as string).length).toBe(2 * 1024 * 1024);
  });
});
