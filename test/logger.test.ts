import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';

const logger = pathToFileURL(resolve(import.meta.dirname, '../dist/logger.js')).href;

/**
 * The stderr of a process that logs `script`'s lines through the service's logger. The script
 * may wait for `go()`: it is called once the first whole line has been read from stderr.
 */
async function stderrOf(script: string): Promise<string> {
  const go = `const go = () => new Promise((done) => process.stdin.once('data', () => { process.stdin.destroy(); done(); }));`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', `import { createLogger } from '${logger}';\nconst log = createLogger('info');\n${go}\n${script}`], { stdio: ['pipe', 'ignore', 'pipe'] });
  let text = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    const first = !text.includes('\n');
    text += chunk;
    if (first && text.includes('\n')) child.stdin.end('go\n');
  });
  await new Promise((done) => child.once('close', done));
  return text;
}

describe('the application log on stderr', () => {
  it('writes a line over 1 MiB when nothing waits to be written, and says nothing was dropped', async () => {
    // A rejected reload's line with every problem was such a line: dropped, with a note saying
    // stderr was not read, which a file being written could not explain.
    // The next line comes once the first was read whole: a fixed wait could end, on a busy
    // machine, before the reader had taken it, and the logger rightly drops a line then.
    const text = await stderrOf(`log.error({ issues: 'x'.repeat(2 * 1024 * 1024) }, 'big');\nawait go();\nlog.info('after');`);
    const lines = text.trimEnd().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(lines.map((line) => line['msg'])).toEqual(['big', 'after']);
    expect((lines[0]?.['issues'] as string).length).toBe(2 * 1024 * 1024);
  });
});
