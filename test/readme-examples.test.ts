import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { callerKeys } from '../src/caller/keys.js';
import { loadConfig } from '../src/config.js';
import { loadPolicyDir } from '../src/policy/load.js';
import { claimTermsFromConfig, tokensFromConfig, type Tokens } from '../src/token/from-config.js';
import { buildTestApp, defaultPolicyDir, postJson } from './helpers/app.js';
import { runCli } from './helpers/cli.js';
import { tempDir } from './helpers/tmp.js';
import { jwks, makeKey, sign } from './helpers/tokens.js';

/**
 * Every `curl … -d '{…}'` example in README.md, sent to the app as it is written, and its
 * answer compared with the one the README shows after it (a `# {…}` line in the same block,
 * or the json block right after it). `…` in the shown answer stands for what varies: inside a
 * string, any string (an id); elsewhere, anything (members left out).
 */
const readme = await readFile(resolve(import.meta.dirname, '../README.md'), 'utf8');

interface Example {
  readonly line: number;
  readonly path: string;
  readonly body: string;
  /** The token command of the same block, when the body uses `$TOKEN`. */
  readonly token?: { readonly iss: string; readonly aud: string; readonly claims: Record<string, unknown> };
  /** Asked of the shipped policies with the README's entity data (the paragraph before says so). */
  readonly withEntityData: boolean;
  readonly shown?: string;
}

const fence = /```(\w*)\n([\s\S]*?)```/g;
const curl = /curl -s localhost:8080(\S+) -H 'content-type: application\/json' -d '([\s\S]*?)'\n((?:# .*\n)*)/g;

function examples(): Example[] {
  const found: Example[] = [];
  const blocks = [...readme.matchAll(fence)];
  blocks.forEach((block, i) => {
    if (block[1] !== 'sh') return;
    const text = block[2] ?? '';
    const start = block.index;
    const next = blocks[i + 1];
    const after = next !== undefined && next[1] === 'json' && readme.slice(start + block[0].length, next.index).trim() === '' ? next[2] : undefined;
    // The paragraph that ends in the blank line before the block.
    const before = readme.slice(Math.max(0, readme.lastIndexOf('\n\n', start - 3)), start);
    const command = /--iss (\S+) --aud (\S+)[\s\\]*--claims '([^']*)'/.exec(text);
    for (const match of text.matchAll(curl)) {
      const comment = (match[3] ?? '').split('\n').find((l) => l.startsWith('# {'));
      found.push({
        line: readme.slice(0, start).split('\n').length + 1,
        path: match[1] ?? '',
        body: match[2] ?? '',
        ...(command !== null && { token: { iss: command[1] ?? '', aud: command[2] ?? '', claims: JSON.parse(command[3] ?? '{}') as Record<string, unknown> } }),
        withEntityData: before.includes('entity data'),
        shown: comment?.slice(2) ?? after,
      });
    }
  });
  return found;
}

/** The shown answer as a pattern over the compact JSON of the real one. */
function pattern(shown: string): RegExp {
  const compact = shown.split('\n').map((l) => l.trim()).join('');
  const parts = compact.match(/"(?:[^"\\]|\\.)*"|…|[^"…]+/g) ?? [];
  const source = parts.map((part) => (part === '…' ? '.*?' : part.startsWith('"') && part.includes('…') ? '"[^"]*"' : part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))).join('');
  return new RegExp(`^${source}$`);
}

/** The first block fenced as `lang` after the text `from`. */
function blockAfter(from: string, lang = 'json'): string {
  const at = readme.indexOf(from);
  const block = new RegExp(`\`\`\`${lang}\n([\\s\\S]*?)\`\`\``).exec(at < 0 ? '' : readme.slice(at));
  if (block === null) throw new Error(`README: no ${lang === '' ? 'bare' : lang} block after ${from}`);
  return block[1] ?? '';
}

/** The first json block after the entity data heading: the README's own example data file. */
function entityData(): string {
  return blockAfter('### Entity data');
}

/**
 * Shown output lines as one pattern over the real output: a line that is `…` alone stands for any
 * lines (none included), a line ending in `…` for any line that begins as it does.
 */
function linesPattern(shown: string): RegExp {
  const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const lines = shown.trimEnd().split('\n').map((line) => {
    const text = line.trimEnd();
    if (text.trim() === '…') return '(?:[^\\n]*\\n)*?';
    return text.endsWith('…') ? `${escape(text.slice(0, -1))}[^\\n]*\\n` : `${escape(text)}\\n`;
  });
  return new RegExp(`^${lines.join('')}`);
}

const opened: Tokens[] = [];
afterAll(() => {
  for (const tokens of opened) tokens.close();
});

async function appFor(example: Example) {
  let policyDir = defaultPolicyDir;
  if (example.withEntityData) {
    policyDir = await tempDir();
    await copyFile(join(defaultPolicyDir, 'invoices.json'), join(policyDir, 'invoices.json'));
    await mkdir(join(policyDir, 'data'));
    await writeFile(join(policyDir, 'data', 'users.json'), entityData());
  }
  if (example.token === undefined) return { app: (await buildTestApp({ policyDir })).app, body: example.body };
  const key = await makeKey('ES256');
  const keys = join(await tempDir({ 'jwks.json': jwks([key]) }), 'jwks.json');
  const tokens = await tokensFromConfig(loadConfig({ JWKS_FILE: keys, JWT_ISSUER: example.token.iss, JWT_AUDIENCE: example.token.aud }));
  opened.push(tokens);
  const token = await sign(key, example.token.claims, { iss: example.token.iss, aud: example.token.aud });
  const { app } = await buildTestApp({ policyDir, tokens: tokens.verifier, claims: tokens.claims });
  return { app, body: example.body.replace(`"'"$TOKEN"'"`, JSON.stringify(token)) };
}

describe('README examples', () => {
  const all = examples();

  it('are found: every curl example with a JSON body', () => {
    expect(all.length).toBeGreaterThanOrEqual(5);
    expect(all.filter((e) => e.shown !== undefined).length).toBeGreaterThanOrEqual(4);
  });

  it.each(all.map((e) => [`line ${e.line}: POST ${e.path}`, e] as const))('%s answers as shown', async (_, example) => {
    const { app, body } = await appFor(example);
    const res = await postJson(app, example.path, JSON.parse(body));
    expect(res.status).toBe(200);
    const answer = JSON.stringify(await res.json());
    if (example.shown !== undefined) expect(answer).toMatch(pattern(example.shown));
  });
});

describe('README policy format', () => {
  it('shows the shipped rules it names as they are written, but for their descriptions', async () => {
    const section = readme.slice(readme.indexOf('### The format'));
    const block = /```json\n([\s\S]*?)```/.exec(section)?.[1] ?? '';
    type Rule = { id: string; description?: string };
    const shown = (JSON.parse(block) as { rules: Rule[] }).rules;
    const shipped = (JSON.parse(await readFile(join(defaultPolicyDir, 'invoices.json'), 'utf8')) as { rules: Rule[] }).rules;
    expect(shown.length).toBeGreaterThan(0);
    const withoutDescription = (rule: Rule) => ({ ...rule, description: undefined });
    for (const rule of shown) {
      const same = shipped.find((r) => r.id === rule.id);
      expect(same && withoutDescription(same), rule.id).toEqual(withoutDescription(rule));
    }
  });
});

describe('README conditions', () => {
  it('loads every condition the CEL example block shows', async () => {
    const lines = blockAfter('### Conditions (CEL)', 'cel').split('\n').map((line) => line.replace(/\s+\/\/.*$/, '').trim()).filter((line) => line !== '');
    expect(lines.length).toBeGreaterThan(0);
    const rules = lines.map((condition, i) => ({ id: `r${String(i)}`, effect: 'permit', actions: ['read'], condition }));
    const dir = await tempDir({ 'p.json': { id: 'p', resource: 'invoice', rules } });
    await expect(loadPolicyDir(dir)).resolves.toMatchObject({ ruleCount: lines.length });
  });

  it('names the conversions a condition may call, and refuses the one it leaves out', async () => {
    const from = readme.indexOf('function outside the allowlist (');
    const list = readme.slice(from, readme.indexOf(') rejects the set', from));
    const named = /conversions \(([^)]*)\)/.exec(list)?.[1] ?? '';
    const conversions = [...named.matchAll(/`(\w+)`/g)].map((m) => m[1] ?? '');
    const refused = /not `(\w+)`/.exec(named)?.[1];
    expect(refused).toBe('bytes');
    const allowed = conversions.filter((name) => name !== refused);
    expect(allowed.sort()).toEqual(['bool', 'double', 'dyn', 'int', 'string', 'type', 'uint']);
    const rules = allowed.map((name, i) => ({ id: `r${String(i)}`, effect: 'permit', actions: ['read'], condition: `${name}(context.s) != dyn(0)` }));
    await expect(loadPolicyDir(await tempDir({ 'p.json': { id: 'p', resource: 'invoice', rules } }))).resolves.toMatchObject({ ruleCount: allowed.length });
    const bytes = [{ id: 'r', effect: 'permit', actions: ['read'], condition: `${refused ?? ''}(context.s) == b"a"` }];
    await expect(loadPolicyDir(await tempDir({ 'p.json': { id: 'p', resource: 'invoice', rules: bytes } }))).rejects.toThrow('function not allowed: bytes');
  });

  it('answers the comparisons of uints it leaves as the library has them as it says, for a number `n`', async () => {
    const from = readme.indexOf('a list or map holding uints does not equal');
    const sentence = readme.slice(from, readme.indexOf(').', from));
    const said = [...sentence.matchAll(/`([^`]+)` is\s+(true|false)/g)].map((m) => ({ condition: m[1] ?? '', holds: m[2] === 'true' }));
    expect(said).toHaveLength(2);
    const rules = said.map(({ condition }, i) => ({ id: `r${String(i)}`, effect: 'permit', actions: [`a${String(i)}`], condition }));
    const { app } = await buildTestApp({ policyDir: await tempDir({ 'p.json': { id: 'p', resource: 'invoice', rules } }) });
    for (const [i, { condition, holds }] of said.entries()) {
      const res = await postJson(app, '/decide', { subject: { id: 'u1' }, action: `a${String(i)}`, resource: { type: 'invoice' }, context: { n: 13 } });
      expect(await res.json(), condition).toMatchObject({ decision: holds ? 'permit' : 'deny' });
    }
  });
});

describe('README token configuration', () => {
  it('the TOKEN_CONFIG_FILE example loads, and maps each issuer\'s claims as it says', async () => {
    const example = blockAfter('### Several issuers');
    const dir = await tempDir({ 'tokens.json': example, 'partner-keys.json': jwks([await makeKey('ES256')]) });
    const { claims } = await claimTermsFromConfig(loadConfig({ TOKEN_CONFIG_FILE: join(dir, 'tokens.json') }));
    const keycloak = claims({ iss: 'https://sso.example.com/realms/acme', sub: 'u-1', realm_access: { roles: ['accountant'] }, resource_access: { 'invoice-api': { roles: ['auditor'] } } });
    expect(keycloak).toMatchObject({ id: 'u-1', roles: ['accountant', 'auditor'] });
    const entra = claims({ iss: 'https://login.microsoftonline.com/<tenant-id>/v2.0', sub: 'pairwise', oid: 'oid-1', roles: ['finance_manager'] });
    expect(entra).toMatchObject({ id: 'oid-1', roles: ['finance_manager'] });
  });

  it('each issuer entry of the claim mapping table is one TOKEN_CONFIG_FILE takes', async () => {
    const table = readme.slice(readme.indexOf('| identity provider | issuer entry |'), readme.indexOf('The same mapping through the environment'));
    const entries = [...table.matchAll(/^\| ([^|]+) \| `([^`]+)`/gm)].map((m) => [m[1] ?? '', m[2] ?? ''] as const);
    expect(entries.map(([provider]) => provider)).toEqual(['Keycloak', 'Auth0', 'Okta', 'Entra ID', 'Cognito']);
    const keys = jwks([await makeKey('ES256')]);
    for (const [provider, fields] of entries) {
      const entry = { issuer: 'https://idp.example', jwksFile: 'keys.json', audience: 'invoice-api', ...(JSON.parse(`{${fields}}`) as object) };
      const dir = await tempDir({ 'tokens.json': { issuers: [entry] }, 'keys.json': keys });
      await expect(claimTermsFromConfig(loadConfig({ TOKEN_CONFIG_FILE: join(dir, 'tokens.json') })), provider).resolves.toBeDefined();
    }
  });
});

describe('README policy field table', () => {
  type Field = { maxLength?: number; maxItems?: number; items?: Field; properties?: Record<string, Field> };

  /** Each upper bound `policy.schema.json` sets on a field, by the name the README's table gives the field. */
  function bounds(properties: Record<string, Field>, prefix: string): [string, number][] {
    return Object.entries(properties).flatMap(([name, field]): [string, number][] => {
      const row = `${prefix}${name}`;
      const own = [field.maxLength, field.maxItems, field.items?.maxLength].filter((n): n is number => n !== undefined).map((n): [string, number] => [row, n]);
      const rules = field.items?.properties === undefined ? [] : bounds(field.items.properties, `${row}[].`);
      return [...own, ...rules];
    });
  }

  it('states every length and count limit the policy schema sets, in the row of its field', async () => {
    const schema = JSON.parse(await readFile(join(defaultPolicyDir, 'policy.schema.json'), 'utf8')) as { properties: Record<string, Field> };
    const section = readme.slice(readme.indexOf('### The format'), readme.indexOf('### Conditions (CEL)'));
    const limits = bounds(schema.properties, '');
    expect(limits.length).toBeGreaterThan(0);
    for (const [field, limit] of limits) {
      const row = section.split('\n').find((line) => line.startsWith('| ') && line.split('|')[1]?.includes(`\`${field}\``));
      expect(row, field).toBeDefined();
      expect(row, `${field}: ${limit}`).toContain(limit.toLocaleString('en-US'));
    }
  });
});

describe('README outputs of the test case it shows', () => {
  /** The request of the README's example test file, the one `pdp check` and the explain example show. */
  const request = (JSON.parse(blockAfter('### Testing: fixtures and coverage')) as { groups: { cases: { request: unknown }[] }[] }).groups[0]?.cases[0]?.request;

  it('pdp check prints what the README shows for it', async () => {
    const shown = blockAfter('`pdp check` does the same offline', '');
    const [command, ...output] = shown.split('\n');
    expect(command).toBe('$ pdp check policies --request approve.json');
    const run = await runCli(['check', defaultPolicyDir, '--request', '-'], { input: JSON.stringify(request) });
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(linesPattern(output.join('\n')));
  });

  it('POST /decide answers it as the README shows, and its explain holds the entry shown', async () => {
    const { app } = await buildTestApp();
    const res = await postJson(app, '/decide?explain=true', request);
    expect(res.status).toBe(200);
    const { explain, ...answer } = (await res.json()) as { explain: unknown[] };
    expect(JSON.stringify(answer)).toMatch(pattern(blockAfter("A deny from a rule carries that rule's advice")));
    expect(explain).toContainEqual(JSON.parse(blockAfter('`POST /decide?explain=true` adds `explain`')));
  });

  it('is written as pdp fmt writes it, so a copy passes pdp fmt --check', async () => {
    const dir = await tempDir();
    await mkdir(join(dir, 'tests'));
    await copyFile(join(defaultPolicyDir, 'invoices.json'), join(dir, 'invoices.json'));
    await writeFile(join(dir, 'tests', 'approve.json'), blockAfter('### Testing: fixtures and coverage'));
    expect(await runCli(['fmt', dir, '--check'])).toMatchObject({ code: 0, stdout: expect.stringContaining('0 of 2 files need formatting') });
  });

  it('pdp test --coverage ends as the README shows', async () => {
    const run = await runCli(['test', defaultPolicyDir, '--coverage']);
    expect(run.code).toBe(0);
    expect(run.stdout.endsWith(blockAfter('side it misses:', ''))).toBe(true);
  });
});

describe('README admin examples', () => {
  const adminKey = 'admin-key-0123456789abcdef';

  it('GET /admin/policies and a reload, taken and refused, answer as shown', async () => {
    const dir = await tempDir();
    await copyFile(join(defaultPolicyDir, 'invoices.json'), join(dir, 'invoices.json'));
    const { app } = await buildTestApp({ policyDir: dir, app: { callers: callerKeys({ api: [], trusted: [], admin: [adminKey] }) } });
    const block = blockAfter('### Admin endpoints', 'sh');
    const shown = (prefix: string) => [...block.matchAll(/^# (?:\d{3} )?(.*)$/gm)].map((m) => m[1] ?? '').find((line) => line.startsWith(prefix)) ?? '';
    const headers = { authorization: `Bearer ${adminKey}` };
    const listed = await app.request('/admin/policies', { headers });
    expect(listed.status).toBe(200);
    expect(JSON.stringify(await listed.json())).toMatch(pattern(shown('{"version"')));

    const policy = JSON.parse(await readFile(join(dir, 'invoices.json'), 'utf8')) as { description: string; rules: { condition?: string }[] };
    await writeFile(join(dir, 'invoices.json'), JSON.stringify({ ...policy, description: `${policy.description} Changed.` }));
    const reloaded = await app.request('/admin/policies/reload', { method: 'POST', headers });
    expect(reloaded.status).toBe(200);
    expect(JSON.stringify(await reloaded.json())).toMatch(pattern(shown('{"version":"9f1c')));

    const broken = structuredClone(policy);
    const rule = broken.rules[3];
    if (rule === undefined) throw new Error('the shipped policy has no fourth rule');
    rule.condition = `${rule.condition ?? ''} && (`;
    await writeFile(join(dir, 'invoices.json'), JSON.stringify(broken));
    const refused = await app.request('/admin/policies/reload', { method: 'POST', headers });
    expect(refused.status).toBe(422);
    expect(refused.headers.get('content-type')).toBe('application/problem+json');
    const errors = ((await refused.json()) as { errors: Record<string, unknown>[] }).errors;
    const shownErrors = JSON.parse(`{${shown('application/problem+json: ').replace('application/problem+json: ', '')}}`) as { errors: Record<string, string>[] };
    expect(errors).toHaveLength(shownErrors.errors.length);
    for (const [i, error] of shownErrors.errors.entries()) {
      for (const [name, value] of Object.entries(error)) expect(JSON.stringify(errors[i]?.[name])).toMatch(pattern(JSON.stringify(value)));
    }
  });
});
