import { isJsonWhitespace } from './json-chars.js';

/** Where JSON text first breaks the grammar (RFC 8259), 1-based, and what is wrong there. */
export interface JsonSyntaxError {
  readonly line: number;
  readonly column: number;
  readonly message: string;
}

/** Deeper than this, the scan gives up rather than recurse on: callers bound nesting far lower. */
const maxDepth = 1_000;

class Found {
  constructor(
    readonly at: number,
    readonly message: string,
  ) {}
}

const number = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
const word = /[A-Za-z_$][\w$]*/y;
const hex4 = /[0-9A-Fa-f]{4}/y;
/** What may not follow a number: its text then runs on into something JSON does not write (`01`, `1.`, `1e`). */
const numberRunsOn = /[\w.+-]/y;
const escapes = new Set(['"', '\\', '/', 'b', 'f', 'n', 'r', 't']);

/** The character at `at`, as a message names it: `"]"`, `U+FEFF`, or the end of the text. */
function describe(text: string, at: number): string {
  if (at >= text.length) return 'the end of the text';
  const code = text.charCodeAt(at);
  return code < 0x20 || code > 0x7e ? `U+${code.toString(16).toUpperCase().padStart(4, '0')}` : JSON.stringify(text[at]);
}

/** Thrown past `maxDepth`. */
class TooDeep extends Error {}

/** A validating scan of JSON text, stopping at the first place it breaks the grammar; recursive, to `maxDepth`. */
class Scanner {
  at = 0;
  depth = 0;

  constructor(readonly text: string) {}

  whitespace(): void {
    const { text } = this;
    while (isJsonWhitespace(text.charCodeAt(this.at))) this.at++;
  }

  /** The last character before `at` that is not whitespace. */
  previous(): string | undefined {
    for (let i = this.at - 1; i >= 0; i--) {
      if (!isJsonWhitespace(this.text.charCodeAt(i))) return this.text[i];
    }
    return undefined;
  }

  /** Stops at `at`, saying what is wrong there; a comment, which JSON has not, is said to be one. */
  fail(message: string): never {
    const comment = this.text.startsWith('//', this.at) || this.text.startsWith('/*', this.at);
    throw new Found(this.at, comment ? `${message}: JSON has no comments` : message);
  }

  document(): void {
    this.value();
    this.whitespace();
    if (this.at < this.text.length) this.fail(`${describe(this.text, this.at)} after the end of the JSON value`);
  }

  value(): void {
    this.whitespace();
    const { text } = this;
    const char = text[this.at];
    if (char === '{' || char === '[') {
      if (++this.depth > maxDepth) throw new TooDeep();
      if (char === '{') this.object();
      else this.array();
      this.depth--;
      return;
    }
    if (char === '"') return this.string();
    if (char === '-' || (char !== undefined && char >= '0' && char <= '9')) return this.number();
    for (const literal of ['true', 'false', 'null']) {
      if (text.startsWith(literal, this.at)) {
        this.at += literal.length;
        return;
      }
    }
    if ((char === ']' || char === '}') && this.previous() === ',') this.fail(`a "," before "${char}": JSON has no comma after the last element`);
    // The word itself is not quoted: it may be a value written without its quotes, a secret among them.
    word.lastIndex = this.at;
    if (word.test(text)) this.fail("a bare word where a value should be: JSON's words are true, false and null, and its strings are in double quotes");
    if (char === "'") this.fail('"\'" where a value should be: JSON strings are in double quotes');
    this.fail(`${describe(text, this.at)} where a value should be`);
  }

  /** Past the opening bracket: true, past `close` too, when the container is empty. */
  opensEmpty(close: string): boolean {
    this.at++;
    this.whitespace();
    if (this.text[this.at] !== close) return false;
    this.at++;
    return true;
  }

  /** After a member or an element: true, past `close`, at the container's end; past a "," otherwise. */
  closes(close: string, item: string): boolean {
    this.whitespace();
    const next = this.text[this.at];
    if (next !== close && next !== ',') this.fail(`${describe(this.text, this.at)} where "," or "${close}" should follow ${item}`);
    this.at++;
    return next === close;
  }

  object(): void {
    if (this.opensEmpty('}')) return;
    do {
      this.whitespace();
      const char = this.text[this.at];
      if (char !== '"') {
        if (char === '}' && this.previous() === ',') this.fail('a "," before "}": JSON has no comma after the last member');
        this.fail(`${describe(this.text, this.at)} where a key in double quotes should be`);
      }
      this.string();
      this.whitespace();
      if (this.text[this.at] !== ':') this.fail(`${describe(this.text, this.at)} where ":" should follow the key`);
      this.at++;
      this.value();
    } while (!this.closes('}', 'a member'));
  }

  array(): void {
    if (this.opensEmpty(']')) return;
    do {
      this.value();
    } while (!this.closes(']', 'an element'));
  }

  string(): void {
    const { text } = this;
    this.at++;
    for (;;) {
      if (this.at >= text.length) this.fail('the text ends inside a string');
      const code = text.charCodeAt(this.at);
      if (code === 0x22) {
        this.at++;
        return;
      }
      if (code < 0x20) this.fail(`${describe(text, this.at)} inside a string: write it escaped (\\n, \\t, \\u0000)`);
      if (code !== 0x5c) {
        this.at++;
        continue;
      }
      const escape = text[this.at + 1];
      if (escape !== undefined && escapes.has(escape)) {
        this.at += 2;
        continue;
      }
      if (escape === 'u') {
        hex4.lastIndex = this.at + 2;
        if (!hex4.test(text)) this.fail('"\\u" needs four hexadecimal digits after it');
        this.at += 6;
        continue;
      }
      this.fail(`"\\${escape ?? ''}" is no escape JSON knows`);
    }
  }

  number(): void {
    number.lastIndex = this.at;
    const written = number.exec(this.text)?.[0];
    numberRunsOn.lastIndex = this.at + (written?.length ?? 0);
    if (written === undefined || numberRunsOn.test(this.text)) {
      this.fail('not a number as JSON writes one: digits without leading zeros, a "." and an exponent each followed by digits');
    }
    this.at += written.length;
  }
}

/**
 * Where `text` first breaks the JSON grammar, by line and column (1-based, columns in UTF-16
 * code units), and what is wrong there (`a "," before "]": JSON has no comma after the last
 * element`); undefined for valid JSON. For text JSON.parse refused: its own messages quote the
 * text around some errors (a policy's, an entity's personal data) with their line breaks, and give
 * neither line nor column. Also undefined for text nested deeper than 1,000 levels, which it
 * leaves unread.
 */
export function findJsonSyntaxError(text: string): JsonSyntaxError | undefined {
  try {
    new Scanner(text).document();
    return undefined;
  } catch (error) {
    if (error instanceof TooDeep) return undefined;
    if (!(error instanceof Found)) throw error;
    // A line ends in CR LF, LF or CR alone (an old Mac's files), as editors count them.
    const breaks = text.slice(0, error.at).match(/\r\n?|\n/g) ?? [];
    const lineStart = Math.max(text.lastIndexOf('\n', error.at - 1), text.lastIndexOf('\r', error.at - 1)) + 1;
    return { line: breaks.length + 1, column: error.at - lineStart + 1, message: error.message };
  }
}

/**
 * What to say of `text`, which JSON.parse refused: `not valid JSON at line 4, column 71: …`, or
 * `not valid JSON` alone for text nested past what the scan reads (every caller bounds nesting
 * lower before parsing). Never JSON.parse's own message, which quotes the text.
 */
export function notJson(text: string): string {
  const syntax = findJsonSyntaxError(text);
  return syntax === undefined ? 'not valid JSON' : `not valid JSON at line ${syntax.line}, column ${syntax.column}: ${syntax.message}`;
}
