import type { DecisionMeta, DecisionRecord, DecisionRecorder } from '../decision/record.js';
import { sliceMs } from '../pace.js';
import { maxLength as maxUnwrittenBytes } from './audit-destination.js';
import { anyKey, masked, maskPath, type MaskPath } from './mask.js';

/** Which decisions get an audit line. */
export type AuditDecisions = 'all' | 'deny' | 'none';

/** Where audit lines go: each `write` holds one or more whole JSON lines, each ending in `\n`. */
export interface AuditSink {
  /** Takes the lines, or throws when it takes no more (each of them is then counted as lost). */
  write(lines: string): void;
  /**
   * At process exit: writes out what is buffered, synchronously, as far as it can without
   * blocking beyond a short bound; nothing once `end` has begun. A write already in flight
   * cannot be waited for here: its lines may land after these, or not at all.
   */
  flushSync?(): void;
  /** Writes out everything given so far, in order, waits (for a bounded time) until it is written, and closes. */
  end?(): Promise<void>;
}

/** Masked unless configured otherwise: personal data that tokens and resources often carry. */
export const defaultAuditRedact: readonly string[] = [
  'subject.properties.email',
  'subject.properties.name',
  'subject.properties.given_name',
  'subject.properties.family_name',
  'subject.properties.phone_number',
  'subject.properties.address',
  'resource.properties.email',
];

/** `AuditLogOptions.maxRequestBytes` unless configured otherwise. */
export const defaultMaxRequestBytes = 4 * 1024 * 1024;

/**
 * The longest line written with its data, whatever the budget: half of what the log holds
 * unwritten, beyond which a line would be dropped whole rather than written without its data.
 */
const maxWholeLineBytes = maxUnwrittenBytes / 2;

/** The value a masked field is written with. */
const redactedValue = '[REDACTED]';

export interface AuditLogOptions {
  readonly sink: AuditSink;
  readonly decisions?: AuditDecisions;
  /** Dotted paths into the line's subject, action, resource and context; `*` matches any key. */
  readonly redact?: readonly string[];
  /**
   * Bytes of audit lines one request's decisions may take (default 4 MiB); its lines from the
   * one that would go past it on leave out their request data. Each line repeats its request's
   * context and subject: a batch or search page would otherwise multiply them by its items.
   */
  readonly maxRequestBytes?: number;
  /** Told of every line that could not be written; must not throw. */
  readonly onError?: (error: unknown, requestId: string | undefined) => void;
}

function ruleIds(record: DecisionRecord): string[] {
  const ids: string[] = [];
  for (const reason of record.outcome.reasons) if ('effect' in reason) ids.push(reason.rule);
  return ids;
}

let isoMs = Number.NaN;
let isoText = '';

/** `time.toISOString()`, made once per millisecond: a busy process logs many lines in each. */
function isoTime(time: Date): string {
  const ms = time.getTime();
  if (ms !== isoMs) {
    isoText = time.toISOString();
    isoMs = ms;
  }
  return isoText;
}

/**
 * What a condition error says in the audit line. Its message can quote request data ("No such
 * key: alice@example.com"), which AUDIT_REDACT masks everywhere else in the line; the caller
 * gets the message in its answer, and `?explain=true` shows it.
 */
const withheldConditionError = 'the condition failed at run time (its message, which may quote request data, is not logged)';

/**
 * The fields each reason's message quotes (`"Alice@Example.com" of type "user" names no entity,
 * but differs from the user "alice@example.com"…`): where AUDIT_REDACT masks one of them, the
 * message is left out of the line with it.
 */
const quotedFields: Readonly<Record<string, readonly (readonly [string, string])[]>> = {
  no_applicable_rule: [['action', 'name'], ['resource', 'type']],
  unknown_resource_type: [['resource', 'type']],
  action_case_mismatch: [['action', 'name'], ['resource', 'type']],
  entity_case_mismatch: [['subject', 'type'], ['subject', 'id'], ['resource', 'type'], ['resource', 'id']],
};

/** What a reason says in the audit line when its message quotes a masked field. */
const withheldMaskedDetail = 'its message quotes a value AUDIT_REDACT masks, and is not logged';

/** The reason codes whose messages the audit line leaves out, each with what it says instead. */
function withheldDetails(redact: readonly MaskPath[]): ReadonlyMap<string, string> {
  const masks = (root: string, key: string) => redact.some((path) => path.length === 2 && path[0] === root && (path[1] === key || path[1] === anyKey));
  const withheld = new Map<string, string>([['condition_error', withheldConditionError]]);
  for (const [code, fields] of Object.entries(quotedFields)) {
    if (fields.some(([root, key]) => masks(root, key))) withheld.set(code, withheldMaskedDetail);
  }
  return withheld;
}

/** The decision's reasons as the audit line writes them: those in `withheld` without their message. */
function auditReasons(reasons: DecisionRecord['outcome']['reasons'], withheld: ReadonlyMap<string, string>): readonly unknown[] {
  if (!reasons.some((r) => 'code' in r && withheld.has(r.code))) return reasons;
  return reasons.map((r) => {
    const detail = 'code' in r ? withheld.get(r.code) : undefined;
    return detail === undefined ? r : { ...r, detail };
  });
}

/**
 * The line breaks JSON.stringify leaves as they are (it escapes the controls below U+0020):
 * NEL, U+2028 and U+2029 are valid in a JSON string, but Python's `str.splitlines()` and
 * Unicode-aware readers end a line at each, so a caller sending one in an id or a property cut
 * its own audit line in two.
 */
const lineBreaks = /[\u0085\u2028\u2029]/g;

function escaped(char: string): string {
  return `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`;
}

/**
 * `json` with its line breaks escaped. Most lines hold none: three native searches (U+2028 and
 * U+2029 cannot occur in a string of Latin-1 characters at all) settle a 780-character line in
 * ~0.03 µs, where the regex's scan took 0.3–0.5 µs.
 */
function withLineBreaksEscaped(json: string): string {
  if (json.indexOf('\u0085') === -1 && json.indexOf('\u2028') === -1 && json.indexOf('\u2029') === -1) return json;
  return json.replace(lineBreaks, escaped);
}

/** The parts of a line that hold request data, as `erased` names them when a line leaves them out. */
const dataParts = ['subject.properties', 'action.properties', 'resource.properties', 'context'] as const;

function holdsData(value: Readonly<Record<string, unknown>> | null | undefined): boolean {
  if (value === null || value === undefined) return false;
  for (const key in value) if (Object.hasOwn(value, key)) return true;
  return false;
}

/** Which of the record's data parts hold anything: what a line without them has left out. */
function erasable(record: DecisionRecord): string[] {
  const present = [record.outcome.subject?.properties, record.action?.properties, record.resource?.properties, record.context];
  return dataParts.filter((_, i) => holdsData(present[i]));
}

/**
 * The audit line of one decision. Built from the resolved subject: the token is never in reach.
 * `withheld`: the reason codes written without their message (`withheldDetails`). `erased`:
 * the line leaves out the request data (properties and context) and names what it left out;
 * for lines past their request's audit budget.
 */
function auditEntry(record: DecisionRecord, withheld: ReadonlyMap<string, string>, erased?: readonly string[]): Record<string, unknown> {
  const { meta, outcome } = record;
  const subject = outcome.subject;
  const { action, resource } = record;
  return {
    // Marks the line as audit wherever logs are collected.
    log: 'audit',
    time: isoTime(record.time),
    decisionId: outcome.decisionId,
    requestId: meta?.requestId,
    traceId: meta?.traceId,
    caller: meta?.caller,
    endpoint: meta?.endpoint,
    // Without a `properties` key when erased, as action and resource: a path masking them
    // would otherwise write back, as "[REDACTED]", the properties the line left out.
    subject: subject === undefined ? null : erased === undefined ? { type: subject.type, id: subject.id, properties: subject.properties } : { type: subject.type, id: subject.id },
    action: erased === undefined || action === null ? action : { name: action.name },
    resource: erased === undefined || resource === null ? resource : { type: resource.type, id: resource.id },
    // Undefined values are left out of the line.
    context: erased === undefined || record.context === null ? record.context : undefined,
    erased,
    decision: outcome.decision,
    rules: ruleIds(record),
    reasons: auditReasons(outcome.reasons, withheld),
    policyVersion: outcome.policyVersion,
    source: outcome.source ?? 'evaluated',
    latencyMs: Math.round(record.durationSeconds * 1e6) / 1e3,
  };
}

/**
 * A turn's lines go to the sink in writes of about this many characters: one string of every
 * line of a large batch request (each line repeating the request's context) could run to many
 * megabytes before the sink saw any of it.
 */
const batchLength = 64 * 1024;

/**
 * Most requests whose lines may wait to be built once a turn's drain ends: beyond them it goes on
 * past its slice. Each waiting line holds its request's data (up to MAX_BODY_BYTES of it), and a
 * slice builds few lines of a large request: a steady stream of them left more waiting at every
 * turn (1 MB contexts: 2.5 GB held after 24 s, and growing).
 */
const maxWaitingRequests = 16;

/** Whether `next` is a decision of the request `previous` is of. */
function sameRequest(previous: DecisionRecord | undefined, next: DecisionRecord | undefined): boolean {
  return previous?.meta !== undefined && previous.meta === next?.meta;
}


/**
 * The decision audit log: one JSON line per decision. `record` only queues; lines are built
 * and written after the current turn of the event loop, so neither building nor a failing
 * sink can change or delay a decision. The lines of one turn go to the sink together (in
 * writes of about 64K characters): a write per line kept a busy service's output below the
 * rate it made lines at.
 */
export class AuditLog implements DecisionRecorder {
  readonly #sink: AuditSink;
  readonly #decisions: AuditDecisions;
  readonly #redact: readonly MaskPath[];
  readonly #withheld: ReadonlyMap<string, string>;
  readonly #onError: (error: unknown, requestId: string | undefined) => void;
  readonly #maxRequestBytes: number;
  /**
   * The request of the last line and the bytes its lines took so far (Infinity once one left its
   * data out). One request's decisions are recorded together (DecisionRecorder), so its lines
   * follow each other in the queue.
   */
  #lineRequest: DecisionMeta | undefined;
  #lineRequestBytes = 0;
  #queue: DecisionRecord[] = [];
  /** How many requests the queued records are of (a record without meta is a request of its own). */
  #queuedRequests = 0;
  #scheduled = false;

  constructor(options: AuditLogOptions) {
    this.#sink = options.sink;
    this.#decisions = options.decisions ?? 'all';
    // Masked by our own walk rather than pino's `redact`: it costs next to nothing when the
    // paths are absent (the usual case), where pino's took longer than writing the line.
    this.#redact = (options.redact ?? defaultAuditRedact).map((path) => {
      const keys = maskPath(path);
      if (keys === undefined) throw new TypeError(`not an audit redaction path: ${path}`);
      return keys;
    });
    this.#withheld = withheldDetails(this.#redact);
    this.#onError = options.onError ?? (() => undefined);
    this.#maxRequestBytes = options.maxRequestBytes ?? defaultMaxRequestBytes;
  }

  record(record: DecisionRecord): void {
    if (this.#decisions === 'none' || (this.#decisions === 'deny' && record.outcome.decision !== 'deny')) return;
    if (!sameRequest(this.#queue.at(-1), record)) this.#queuedRequests += 1;
    this.#queue.push(record);
    if (!this.#scheduled) {
      this.#scheduled = true;
      // A scheduled drain holds the event loop no longer than a slice of paced work: each line
      // repeats its request's context, so the lines of one search page (up to 2,000 decisions)
      // with a 1 MB context took 5.8 s to build, with no request served meanwhile.
      setImmediate(() => this.#drainFor(sliceMs));
    }
  }

  /** Writes every queued line now. */
  drain(): void {
    this.#drainFor(Infinity);
  }

  /**
   * Writes queued lines for up to `ms`, and on while the lines of more than `maxWaitingRequests`
   * requests wait, then leaves the rest, in order, to the next turn.
   */
  #drainFor(ms: number): void {
    this.#scheduled = false;
    const started = performance.now();
    const queue = this.#queue;
    this.#queue = [];
    let written: DecisionRecord[] = [];
    let batch = '';
    for (const [index, record] of queue.entries()) {
      try {
        batch += this.#line(record);
        written.push(record);
      } catch (error) {
        this.#report(error, record.meta?.requestId);
      }
      if (batch.length >= batchLength) {
        this.#write(batch, written);
        batch = '';
        written = [];
      }
      if (!sameRequest(record, queue[index + 1])) this.#queuedRequests -= 1;
      if (index + 1 < queue.length && performance.now() - started >= ms && this.#queuedRequests <= maxWaitingRequests) {
        // Nothing was recorded meanwhile (this runs in one go): the rest keeps its place.
        this.#queue = queue.slice(index + 1);
        this.#scheduled = true;
        setImmediate(() => this.#drainFor(ms));
        break;
      }
    }
    if (batch !== '') this.#write(batch, written);
  }

  /**
   * The record's line, with its request data while its request's lines stay within
   * `maxRequestBytes` and it is no longer than `maxWholeLineBytes`. Once a line would go past
   * either, that line and every later one of the request leave the data out without building
   * it: the work stays bounded as the text does.
   */
  #line(record: DecisionRecord): string {
    const meta = record.meta;
    // A record without meta is a request of its own.
    const spent = meta !== undefined && meta === this.#lineRequest ? this.#lineRequestBytes : 0;
    this.#lineRequest = meta;
    this.#lineRequestBytes = Infinity;
    if (spent < this.#maxRequestBytes) {
      const line = this.#text(auditEntry(record, this.#withheld));
      const bytes = Buffer.byteLength(line);
      const total = spent + bytes;
      if (total <= this.#maxRequestBytes && bytes <= maxWholeLineBytes) {
        this.#lineRequestBytes = total;
        return line;
      }
    }
    const erased = erasable(record);
    return this.#text(auditEntry(record, this.#withheld, erased.length > 0 ? erased : undefined));
  }

  #text(entry: Record<string, unknown>): string {
    // Plain JSON.stringify: the entry is JSON data by construction, and a logger's
    // per-key serialisation cost several times more.
    return `${withLineBreaksEscaped(JSON.stringify(masked(entry, this.#redact, redactedValue)))}\n`;
  }

  #write(batch: string, records: readonly DecisionRecord[]): void {
    try {
      this.#sink.write(batch);
    } catch (error) {
      // The sink took none of these lines: each one is counted.
      for (const record of records) this.#report(error, record.meta?.requestId);
    }
  }

  /** Writes the queue out and waits until the sink has written every line, in order; for a graceful shutdown. */
  async close(): Promise<void> {
    this.drain();
    try {
      await this.#sink.end?.();
    } catch (error) {
      this.#report(error, undefined);
    }
  }

  /**
   * Writes the queue and the sink's buffer out at once, as far as the sink can without blocking
   * (see `AuditSink.flushSync`); for process exit, where nothing can be awaited.
   */
  closeSync(): void {
    this.drain();
    try {
      this.#sink.flushSync?.();
    } catch (error) {
      this.#report(error, undefined);
    }
  }

  #report(error: unknown, requestId: string | undefined): void {
    try {
      this.#onError(error, requestId);
    } catch {
      // Runs outside any request: an exception here would only take the process down.
    }
  }
}
