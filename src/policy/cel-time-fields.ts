import type { Environment } from '@marcbachmann/cel-js';
import type { Duration } from '@marcbachmann/cel-js/evaluator';

/**
 * The timestamp getters (`getHours()`, `getDayOfYear()`…) as CEL defines them: a field of the
 * date in UTC, or in the time zone given (langdef.md, "Timezones": a tz database name, or a fixed
 * offset `+HH:MM`/`-HH:MM`, which cel-go also reads without its sign). The library (cel-js 8)
 * read some in the time zone of the process: `getDayOfYear()` counted local days, one short
 * after a change to summer time (1 July was day 180 in New York, 181 in UTC), and with a zone,
 * each getter read the zone's wall-clock time back as a time of the process's zone, an hour off
 * where that time does not exist there; years 1-99 became 1901-1999, and offsets were an error.
 * Here each field is read in UTC from the instant moved by the zone's offset at that instant.
 * The duration getters of the same names count the whole duration in their unit, toward zero, as
 * cel-go does; the library's `getMilliseconds()` rounded down, so `duration("-1.5ms")` was -2.
 */

const timestampType = 'google.protobuf.Timestamp';
const durationType = 'google.protobuf.Duration';
const msPerMinute = 60_000;
const msPerDay = 86_400_000;

/** A timestamp's fields, read in UTC. */
const fields: ReadonlyMap<string, (time: Date) => number> = new Map([
  ['getFullYear', (time: Date) => time.getUTCFullYear()],
  ['getMonth', (time: Date) => time.getUTCMonth()],
  ['getDate', (time: Date) => time.getUTCDate()],
  ['getDayOfMonth', (time: Date) => time.getUTCDate() - 1],
  ['getDayOfWeek', (time: Date) => time.getUTCDay()],
  ['getDayOfYear', dayOfYear],
  ['getHours', (time: Date) => time.getUTCHours()],
  ['getMinutes', (time: Date) => time.getUTCMinutes()],
  ['getSeconds', (time: Date) => time.getUTCSeconds()],
  ['getMilliseconds', (time: Date) => time.getUTCMilliseconds()],
]);

/** Getters a duration also has, with the same names. */
const durationFields: ReadonlyMap<string, (duration: Duration) => bigint> = new Map([
  ['getHours', (duration: Duration) => duration.getHours()],
  ['getMinutes', (duration: Duration) => duration.getMinutes()],
  ['getSeconds', (duration: Duration) => duration.getSeconds()],
  ['getMilliseconds', (duration: Duration) => (duration.seconds * 1_000_000_000n + BigInt(duration.nanos)) / 1_000_000n],
]);

/** Each getter's name, and the name its replacement is registered under (see cel-spec-functions.ts). */
export const timeFieldNames: ReadonlyMap<string, string> = new Map(
  [...fields.keys()].map((name) => [name, `spec${name[0]?.toUpperCase() ?? ''}${name.slice(1)}`]),
);

/** Days since 1 January of the year of `time`, in UTC. */
function dayOfYear(time: Date): number {
  const start = new Date(0);
  // setUTCFullYear, not Date.UTC, which reads years 0-99 as 1900-1999.
  start.setUTCFullYear(time.getUTCFullYear(), 0, 1);
  return Math.floor((time.getTime() - start.getTime()) / msPerDay);
}

/** A fixed offset as cel-go reads one: hours and minutes, signed or not. */
const fixedOffset = /^([+-]?)(\d{2}):(\d{2})$/;

/**
 * Formatters of the wall-clock time in each zone named so far. Making one takes ~60 µs, so each
 * is kept; a zone read from a request may be named many ways (the names are read in any case),
 * so the cache is emptied once it holds `maxZones`.
 */
const formatters = new Map<string, Intl.DateTimeFormat>();
const maxZones = 512;

function formatterFor(zone: string): Intl.DateTimeFormat {
  let formatter = formatters.get(zone);
  if (formatter === undefined) {
    formatter = new Intl.DateTimeFormat('en-US', {
      timeZone: zone,
      hourCycle: 'h23',
      era: 'short',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    if (formatters.size >= maxZones) formatters.clear();
    formatters.set(zone, formatter);
  }
  return formatter;
}

/**
 * The wall-clock time as the formatters write it ("3/2/2026 AD, 13:00:00"): read faster than in
 * parts. The era tells the year before 1 (1 BC, year 0), which a zone west of UTC reaches on
 * 0001-01-01: without it, year 1 with the last day of a year.
 */
const written = /^(\d+)\/(\d+)\/(\d+) (AD|BC), (\d+):(\d+):(\d+)$/;

/** The instant whose UTC fields are the wall-clock time of `time` in tz database zone `zone`. */
function wallClockIn(time: Date, zone: string): Date {
  const text = formatterFor(zone).format(time);
  const parts = written.exec(text);
  if (parts === null) throw new Error(`cannot read the time in ${zone}: ${text}`);
  const [month = 1, day = 1, year = 0, , hour = 0, minute = 0, second = 0] = parts.slice(1).map(Number);
  const wall = new Date(0);
  wall.setUTCFullYear(parts[4] === 'BC' ? 1 - year : year, month - 1, day);
  wall.setUTCHours(hour, minute, second, time.getUTCMilliseconds());
  return wall;
}

/**
 * Longest zone name read: the tz database's are at most 32 characters. Intl takes ~7 ns a
 * character to refuse a longer one (116 µs for 16K, where cel-cost.ts allows ~60 µs a zone).
 */
const longestZone = 64;

/** The instant whose UTC fields are the wall-clock time of `time` in `zone`; throws for a zone that is no time zone. */
function inZone(time: Date, zone: string): Date {
  if (zone === 'UTC') return time;
  if (zone.length > longestZone) throw new Error(`no time zone has a name of ${zone.length} characters (at most ${longestZone})`);
  const offset = fixedOffset.exec(zone);
  if (offset === null) return wallClockIn(time, zone);
  const [sign, hours, minutes] = [offset[1], Number(offset[2]), Number(offset[3])];
  if (hours > 23 || minutes > 59) throw new Error(`time zone offset out of range: ${zone}`);
  return new Date(time.getTime() + (sign === '-' ? -1 : 1) * (hours * 60 + minutes) * msPerMinute);
}

/** Registers the getters in `env`, under the names in `timeFieldNames`; `env` is returned. */
export function withTimeFields(env: Environment): Environment {
  for (const [name, read] of fields) {
    const registered = timeFieldNames.get(name) ?? name;
    env
      .registerFunction(`${timestampType}.${registered}(): int`, (time: Date) => BigInt(read(time)))
      .registerFunction(`${timestampType}.${registered}(string): int`, (time: Date, zone: string) => BigInt(read(inZone(time, zone))));
    const readDuration = durationFields.get(name);
    if (readDuration !== undefined) env.registerFunction(`${durationType}.${registered}(): int`, readDuration);
  }
  return env;
}
