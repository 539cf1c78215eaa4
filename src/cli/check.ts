import { fstatSync } from 'node:fs';
import type { Verdict } from '../decision/types.js';
import { jsonLimits } from '../json-limits.js';
import type { PolicyIssue } from '../policy/errors.js';
import { PolicyLoadError } from '../policy/errors.js';
import { evaluate, type RuleTrace } from '../policy/evaluate.js';
import { fixtureRequestSchema, instantSchema } from '../policy/fixtures.js';
import { parseSource } from '../json-source.js';
import { loadPolicyDir, validateSource } from '../policy/load.js';
import { readRegularFile } from '../regular-file.js';
import { decodeSource } from '../policy/source-text.js';
import { fixtureRequestToQuery } from '../policy/testing.js';
import { claimTermsFromConfig } from '../token/from-config.js';
import { parseCommandArgs, serverConfig, UsageError, withLoadErrors, type Io } from './io.js';
import { commandOptions } from './options.js';
import { printable } from '../printable.js';

/**
 * Reads the request as a source file (UTF-8, no key twice) held to the limits `/decide` puts on
 * a body, its size (`maxBytes`) included, so that what the server would refuse is not decided
 * here. Only a regular file or stdin is read: a device or FIFO could run on for ever.
 */
async function readRequest(path: string, maxBytes: number) {
  const label = path === '-' ? '(stdin)' : path;
  const fail = (issues: PolicyIssue[]): never => {
    throw new PolicyLoadError(issues);
  };
  let bytes: Buffer;
  try {
    bytes = path === '-' ? await readStdin(maxBytes) : await readRegularFile(path, maxBytes);
  } catch (error) {
    return fail([{ file: label, path: '$', message: `cannot read the request: ${(error as Error).message}` }]);
  }
  const decoded = decodeSource(bytes);
  if (!('text' in decoded)) return fail([{ file: label, path: '$', message: decoded.message }]);
  const source = parseSource(decoded.text, jsonLimits);
  if (!('value' in source)) return fail([{ file: label, path: source.path, message: source.message }]);
  // As the loader checks a test case's request, and words its problems.
  const issues: PolicyIssue[] = [];
  return (await validateSource(source.value, label, fixtureRequestSchema, issues)) ?? fail(issues);
}

/**
 * Stdin up to `maxBytes`; reading stops beyond it, as stdin may never end (`< /dev/zero`). A
 * directory (`< policies`) is refused: Node's stream reads one as no bytes, which was then
 * refused as a request that is not JSON, naming neither the directory nor the mistake.
 */
async function readStdin(maxBytes: number): Promise<Buffer> {
  if (fstatSync(0).isDirectory()) throw new Error('stdin is a directory');
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of process.stdin) {
    size += (chunk as Buffer).length;
    if (size > maxBytes) throw new Error(`larger than ${maxBytes} bytes`);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

function instant(value: string | boolean | undefined): Date {
  if (typeof value !== 'string') return new Date();
  if (!instantSchema.safeParse(value).success) {
    throw new UsageError(`--now takes an RFC 3339 date-time with upper-case T and Z, as conditions' timestamp() reads it, within years 1 to 9999 (UTC) such as 2025-03-01T09:00:00Z, not "${value}"`);
  }
  return new Date(value);
}

const mark = (io: Io, value: boolean | null): string =>
  value === null ? io.paint('dim', '–') : value ? io.paint('green', '✓') : io.paint('red', '✗');

function conditionText(io: Io, condition: RuleTrace['condition']): string {
  if (condition === null) return io.paint('dim', '(no condition)');
  const outcome = condition.error !== undefined
    ? io.paint('red', `error: ${printable(condition.error)}`)
    : condition.value === undefined ? io.paint('dim', 'not evaluated') : String(condition.value);
  return `condition ${outcome}  ${io.paint('dim', printable(condition.expression))}`;
}

/**
 * The decision and its trace, each reason, advice and rule on lines of its own: what the request
 * names (an action, a type, an id a reason quotes) or a condition holds is written with its line
 * breaks and controls as `\u{…}`, so that none prints a line of its own (`applies permit …`) or
 * drives the terminal.
 */
function printVerdict(io: Io, verdict: Verdict, version: string, trace: readonly RuleTrace[]): void {
  io.out(`decision: ${io.paint(verdict.decision === 'permit' ? 'green' : 'red', verdict.decision)}   ${io.paint('dim', `policy version ${version}`)}`);
  io.out('reasons:');
  for (const reason of verdict.reasons) {
    io.out('effect' in reason
      ? `  ${reason.policy}/${reason.rule} (${reason.effect})`
      : `  ${reason.code}${reason.rule === undefined ? '' : ` ${reason.policy ?? ''}/${reason.rule}`}: ${printable(reason.detail)}`);
  }
  if (verdict.advice.length > 0) {
    io.out('advice:');
    for (const advice of verdict.advice) io.out(`  ${advice.policy}/${advice.rule} ${printable(JSON.stringify(advice.advice))}`);
  }
  if (trace.length === 0) return;
  io.out('rules considered (action · roles · scopes · condition):');
  for (const rule of trace) {
    const status = rule.applied ? io.paint('bold', 'applies') : io.paint('dim', 'no     ');
    const overridden = rule.applied && rule.effect === 'permit' && verdict.decision === 'deny' ? io.paint('dim', '  (a deny overrides it)') : '';
    io.out(`  ${status} ${rule.effect.padEnd(6)} ${rule.policy}/${rule.rule}${overridden}`);
    io.out(`          ${mark(io, rule.action)} action  ${mark(io, rule.roles)} roles  ${mark(io, rule.scopes)} scopes  ${conditionText(io, rule.condition)}`);
  }
}

/**
 * `pdp check [DIR] --request FILE [--now ISO] [--json]`: decides one request offline and
 * explains it rule by rule. FILE holds `{subject, action, resource, context}` as in a test
 * case (`-` reads stdin), at most MAX_BODY_BYTES. Exit 0 whatever the decision; 1 when the
 * settings, the policies or the request are invalid.
 */
export async function checkCommand(args: readonly string[], io: Io): Promise<number> {
  const { dir, flags } = parseCommandArgs(args, commandOptions.check);
  const json = flags['json'] === true;
  const requestPath = flags['request'];
  if (typeof requestPath !== 'string' || requestPath === '') throw new UsageError('--request FILE is required');
  const now = instant(flags['now']);
  return withLoadErrors(io, json, async () => {
    const config = serverConfig(io);
    const { claims, subjectTypes } = await claimTermsFromConfig(config);
    const set = await loadPolicyDir(dir, undefined, subjectTypes);
    const request = await readRequest(requestPath, config.MAX_BODY_BYTES);
    const trace: RuleTrace[] = [];
    const verdict = evaluate(set, fixtureRequestToQuery(set, request, claims), now, trace);
    // `ok` as every other command's --json has it: false with the issues when something fails to load.
    if (json) io.out(JSON.stringify({ ok: true, ...verdict, policyVersion: set.version, now: now.toISOString(), explain: trace }, null, 2));
    else printVerdict(io, verdict, set.version, trace);
    return 0;
  });
}
