// What the string functions of conditions cost a character, on the worst text found for each:
// the figures cel-cost.ts charges them by. Each is called 1,000 times on 16K characters in a
// comprehension (as a condition over a request list would), less the comprehension alone.
// Run: npm run build && node bench/cel-string-functions.mjs
import { performance } from 'node:perf_hooks';
import { Environment } from '@marcbachmann/cel-js';
import { specFunctionNames, withSpecFunctions } from '../dist/policy/cel-spec-functions.js';

const env = withSpecFunctions(new Environment()).registerVariable('c', 'map<string, dyn>');
const length = 16_384;
const list = Array.from({ length: 1000 }, (_, i) => i);

/** Best of five runs of `condition` on `values`, in ms. */
function best(condition, values) {
  // Called by the names conditions are evaluated with (cel.ts renames them after its checks).
  const renamed = condition.replace(/\b(\w+)\(/g, (call, name) => `${specFunctionNames.get(name) ?? name}(`);
  const evaluate = env.parse(renamed);
  const context = { c: { list, ...values } };
  evaluate(context);
  let fastest = Infinity;
  for (let run = 0; run < 5; run++) {
    const started = performance.now();
    evaluate(context);
    fastest = Math.min(fastest, performance.now() - started);
  }
  return fastest;
}

const texts = {
  ascii: 'a'.repeat(length),
  'aA…': 'aA'.repeat(length / 2),
  'AΩ…': 'AΩ'.repeat(length / 2),
  'A…AΩ': 'A'.repeat(length - 1) + 'Ω',
  'Ω…': 'Ω'.repeat(length),
  emoji: '\u{1F600}'.repeat(length / 2),
  'lone surrogates': '\uD800a'.repeat(length / 2),
  spaces: ' '.repeat(length),
  digits: `0.${'1'.repeat(length - 2)}`,
  zeros: `${'0'.repeat(length - 1)}1`,
  'seconds 1s1s…': '1s'.repeat(length / 2),
  'hours 1.5h…': '1.5h'.repeat(length / 4),
  fraction: `2025-01-01T00:00:00.${'1'.repeat(length - 21)}Z`,
};
const calls = {
  'lowerAscii()': 'c.list.exists(x, c.s.lowerAscii() == "")',
  'upperAscii()': 'c.list.exists(x, c.s.upperAscii() == "")',
  'trim()': 'c.list.exists(x, c.s.trim() == "-")',
  'double()': 'c.list.exists(x, double(c.s) < 0.0)',
  'int()': 'c.list.exists(x, int(c.s) < 0)',
  'uint()': 'c.list.exists(x, uint(c.s) < 0u)',
  'duration()': 'c.list.exists(x, duration(c.s) < duration("0s"))',
  'timestamp()': 'c.list.exists(x, timestamp(c.s) < timestamp(0))',
  'size()': 'c.list.exists(x, size(c.s) < 0)',
  'startsWith()': 'c.list.exists(x, c.s.startsWith(c.almost))',
  'endsWith()': 'c.list.exists(x, c.s.endsWith(c.almost))',
  'contains(2 chars)': 'c.list.exists(x, c.s.contains(c.two))',
  'contains(3 chars)': 'c.list.exists(x, c.s.contains(c.three))',
  'contains(6 chars)': 'c.list.exists(x, c.s.contains(c.six))',
  'indexOf(2 chars)': 'c.list.exists(x, c.s.indexOf(c.two) > 0)',
};

const loop = best('c.list.exists(x, x < 0)', {});
console.log(`comprehension alone: ${loop.toFixed(2)} ms; ns per character (text it was worst on)`);
for (const [name, condition] of Object.entries(calls)) {
  let worst = { ns: 0, text: '' };
  for (const [text, s] of Object.entries(texts)) {
    const unit = s.slice(0, 1);
    // Differing from `s` only in its last character, or found nowhere in it, however close.
    const values = { s, almost: `${s.slice(0, -1)}b`, two: `${unit}b`, three: `${unit.repeat(2)}b`, six: `${unit.repeat(5)}b` };
    const parsed = { 'double()': /^digits$/, 'int()': /^zeros$/, 'uint()': /^zeros$/, 'timestamp()': /^fraction$/ }[name];
    if ((parsed === undefined ? /^(?:digits|zeros|fraction)$/.test(text) : !parsed.test(text)) || (name === 'duration()') !== /1s|1\.5h/.test(s)) continue;
    const ns = ((best(condition, values) - loop) * 1e6) / (list.length * length);
    if (ns > worst.ns) worst = { ns, text };
  }
  console.log(`${name.padEnd(18)} ${worst.ns.toFixed(2).padStart(6)}  (${worst.text})`);
}
const members = Object.fromEntries(Array.from({ length: 1000 }, (_, i) => [`k${i}`, i]));
const perMember = ((best('c.list.exists(x, size(c.m) < 0)', { m: members }) - loop) * 1e6) / (list.length * 1000);
console.log(`${'size() of a map'.padEnd(18)} ${perMember.toFixed(2).padStart(6)}  ns per member`);
