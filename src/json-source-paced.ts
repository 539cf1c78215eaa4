import { CLOSE_ARRAY, closingQuote, CLOSE_OBJECT, COMMA, OPEN_ARRAY, OPEN_OBJECT, QUOTE } from './json-chars.js';
import { parseSource, parseWithinDepth, sourceLimits, type ParsedSource } from './json-source.js';

/** How `parseSourcePaced` cuts text into pieces, in characters. */
export interface PieceSizes {
  /** Text up to this long is parsed in one piece. */
  readonly wholeUpTo: number;
  /** About how much text one piece of a longer text holds. */
  readonly pieceChars: number;
}

/** A piece of 128 KiB takes a few ms to parse and check; a file of 1 MiB, ~10 ms whole. */
const pieceSizes: PieceSizes = { wholeUpTo: 1024 * 1024, pieceChars: 128 * 1024 };
/** Characters the scan for pieces reads between two calls of `pace`. */
const scanChars = 256 * 1024;

/** An array that is a member of the top-level object, where its text sits. */
interface MemberArray {
  /** The member's key, as written (quotes and escapes included). */
  readonly keyStart: number;
  readonly keyEnd: number;
  /** Its opening bracket, the commas between its elements and its closing bracket, in order. */
  readonly bounds: number[];
}

/** Where a scan for member arrays stands between two steps. */
interface Scan {
  readonly arrays: MemberArray[];
  depth: number;
  current: MemberArray | undefined;
  keyStart: number;
  keyEnd: number;
  /** Where the next step starts: past a string that ran over the last step's end too. */
  at: number;
  /** The text is not an object whose brackets and strings close as JSON's do, or nests too deep. */
  failed: boolean;
}

/** Reads `text` from `scan.at` up to `to` (and to the end of a string open there), and stops there. */
function scanStep(text: string, scan: Scan, to: number, maxDepth: number): void {
  let { depth, current, keyStart, keyEnd } = scan;
  let i = scan.at;
  for (; i < to; i++) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      const end = closingQuote(text, i);
      if (end === -1) break;
      // At the top level, the last string before an array's bracket is its key.
      if (depth === 1) {
        keyStart = i;
        keyEnd = end + 1;
      }
      i = end;
    } else if (c === OPEN_OBJECT || c === OPEN_ARRAY) {
      if ((depth === 0 && c !== OPEN_OBJECT) || depth === maxDepth) break;
      depth++;
      if (depth === 2 && c === OPEN_ARRAY) {
        if (keyStart === -1) break;
        current = { keyStart, keyEnd, bounds: [i] };
        scan.arrays.push(current);
      }
    } else if (c === CLOSE_OBJECT || c === CLOSE_ARRAY) {
      if (depth === 0) break;
      if (depth === 2 && current !== undefined) {
        current.bounds.push(i);
        current = undefined;
      }
      depth--;
    } else if (c === COMMA && depth === 2 && current !== undefined) {
      current.bounds.push(i);
    }
  }
  scan.failed = i < to;
  Object.assign(scan, { depth, current, keyStart, keyEnd, at: i });
}

/**
 * The arrays that are members of the top-level object of `text`, found by one scan that lets
 * the event loop turn through `pace`; undefined when the text is not such an object, its
 * brackets or strings do not close as JSON's do, or it nests deeper than `maxDepth` (it is then
 * parsed whole, and refused whole).
 */
async function memberArrays(text: string, maxDepth: number, pace: () => Promise<void>): Promise<MemberArray[] | undefined> {
  const scan: Scan = { arrays: [], depth: 0, current: undefined, keyStart: -1, keyEnd: -1, at: 0, failed: false };
  while (scan.at < text.length) {
    scanStep(text, scan, Math.min(text.length, scan.at + scanChars), maxDepth);
    if (scan.failed) return undefined;
    await pace();
  }
  return scan.depth === 0 ? scan.arrays : undefined;
}

/**
 * `parseSource` of a policy, entity data or test file, letting the event loop turn through
 * `pace` while it works: the same value, or the same refusal, path and message alike. Text of
 * up to 1 MiB is parsed in one piece. Longer text, when it is an object, is parsed in pieces of
 * about 128 KiB: the object with its member arrays left empty, then each array's elements a run
 * at a time (rules, entities, test cases), each piece held to the checks of the whole (keys
 * written twice, numbers a double does not hold exactly; the nesting is checked by the scan that
 * finds the lists, over the whole text), so one file of 16 MiB does not hold the loop for its whole parse (~0.2–0.4 s). A piece that
 * fails has the whole text parsed again, in one piece, for the refusal it gets as a whole.
 */
export async function parseSourcePaced(text: string, pace: () => Promise<void>, sizes: PieceSizes = pieceSizes): Promise<ParsedSource> {
  if (text.length <= sizes.wholeUpTo) return parseSource(text);
  const arrays = await memberArrays(text, sourceLimits.maxDepth, pace);
  if (arrays === undefined || arrays.length === 0) return parseSource(text);
  const whole = async () => {
    await pace();
    return parseSource(text);
  };
  // The top-level object with its arrays emptied: its own keys and values are checked there.
  let skeleton = '';
  let from = 0;
  for (const { bounds } of arrays) {
    skeleton += text.slice(from, (bounds[0] as number) + 1);
    from = bounds.at(-1) as number;
  }
  skeleton += text.slice(from);
  const top = parseWithinDepth(skeleton);
  if (!('value' in top)) return whole();
  const value = top.value as Record<string, unknown>;
  for (const { keyStart, keyEnd, bounds } of arrays) {
    const elements: unknown[] = [];
    // Element k runs from bounds[k] + 1 to bounds[k + 1].
    for (let first = 0; first < bounds.length - 1; ) {
      let last = first + 1;
      while (last < bounds.length - 1 && (bounds[last] as number) - (bounds[first] as number) < sizes.pieceChars) last++;
      await pace();
      const run = parseWithinDepth(`[${text.slice((bounds[first] as number) + 1, bounds[last])}]`);
      if (!('value' in run)) return whole();
      const parsed = run.value as unknown[];
      // A run of one element that is only whitespace parses as `[]`: an element missing beside a
      // comma (`[1,]`, `[,1]`), where the whole text is not JSON; or the array is empty (`[ ]`).
      if (parsed.length !== last - first && !(parsed.length === 0 && bounds.length === 2)) return whole();
      for (const element of parsed) elements.push(element);
      first = last;
    }
    const key = JSON.parse(text.slice(keyStart, keyEnd)) as string;
    if (!Array.isArray(value[key])) return whole();
    // The emptied list is an own property, one named `__proto__` too (JSON.parse makes it so):
    // this sets it in its place, never the object's prototype.
    value[key] = elements;
  }
  return top;
}
