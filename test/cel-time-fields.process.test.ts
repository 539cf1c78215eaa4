import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnServer, type ServerProcess } from './helpers/spawn-server.js';
import { tempDir } from './helpers/tmp.js';

// CEL's timestamp getters read the date in UTC, or in the time zone they are given
// (langdef.md, "Timezones": a tz database name or a fixed offset such as "+05:30"), never in the
// time zone of the process evaluating them. The service is started in several, each its own
// process, and asked the cases of the cel-spec conformance tests and more.

const getters = ['getFullYear', 'getMonth', 'getDate', 'getDayOfMonth', 'getDayOfWeek', 'getDayOfYear', 'getHours', 'getMinutes', 'getSeconds', 'getMilliseconds'];

/** The getters a duration has too, of the same names. */
const durationGetters = ['getHours', 'getMinutes', 'getSeconds', 'getMilliseconds'];

/** A permit rule per getter, action `<getter>`, one per getter with a zone, action `<getter>-in`, and one per duration getter, action `<getter>-duration`. */
const rules = [
  ...getters.flatMap((getter) => [
    { id: getter, effect: 'permit', actions: [getter], condition: `timestamp(context.at).${getter}() == int(context.want)` },
    { id: `${getter}-in`, effect: 'permit', actions: [`${getter}-in`], condition: `timestamp(context.at).${getter}(context.zone) == int(context.want)` },
  ]),
  ...durationGetters.map((getter) => ({ id: `${getter}-duration`, effect: 'permit', actions: [`${getter}-duration`], condition: `duration(context.d).${getter}() == int(context.want)` })),
];

/** [getter, instant, zone (or none: UTC), the value CEL gives]. */
const cases: readonly (readonly [string, string, string | undefined, number])[] = [
  ['getDayOfYear', '2026-07-01T12:00:00Z', undefined, 181],
  ['getDayOfYear', '2026-03-29T12:00:00Z', undefined, 87],
  ['getDayOfYear', '2024-12-31T23:59:59Z', undefined, 365],
  ['getDayOfYear', '1994-12-31T12:00:00Z', undefined, 364],
  ['getDayOfYear', '1995-01-01T00:00:00Z', undefined, 0],
  ['getDayOfYear', '0050-06-01T00:00:00Z', undefined, 151],
  ['getFullYear', '0050-06-01T00:00:00Z', undefined, 50],
  ['getMonth', '2026-12-31T23:59:59Z', undefined, 11],
  ['getDate', '2026-12-31T23:59:59Z', undefined, 31],
  ['getDayOfMonth', '2026-12-31T23:59:59Z', undefined, 30],
  ['getDayOfWeek', '2026-03-01T23:59:59Z', undefined, 0],
  ['getHours', '2026-03-01T23:59:59Z', undefined, 23],
  ['getMinutes', '2026-03-01T23:59:59Z', undefined, 59],
  ['getSeconds', '2026-03-01T23:59:59Z', undefined, 59],
  ['getMilliseconds', '2026-03-01T23:59:59.123Z', undefined, 123],
  // The cel-spec conformance cases with a zone.
  ['getDate', '2009-02-13T23:31:30Z', 'Australia/Sydney', 14],
  ['getDayOfMonth', '2009-02-13T23:31:30Z', 'US/Central', 12],
  ['getDayOfMonth', '2009-02-13T23:31:30Z', '+11:00', 13],
  ['getDayOfMonth', '2009-02-13T02:00:00Z', '-02:30', 11],
  ['getDayOfMonth', '2009-02-13T02:00:00Z', 'America/St_Johns', 11],
  ['getDayOfWeek', '2009-02-13T23:31:30Z', 'UTC', 5],
  ['getDayOfYear', '2009-02-13T23:31:30Z', 'US/Central', 43],
  ['getFullYear', '2009-02-13T23:31:30Z', '-09:30', 2009],
  ['getHours', '2009-02-13T23:31:30Z', '02:00', 1],
  ['getMinutes', '2009-02-13T23:31:30Z', 'Asia/Kathmandu', 16],
  ['getMonth', '2009-02-13T23:31:30Z', 'UTC', 1],
  ['getSeconds', '2009-02-13T23:31:30Z', '-00:00', 30],
  // Wall-clock times that do not exist in the process's zone (New York and Berlin move to summer time then).
  ['getHours', '2026-03-08T02:30:00Z', 'UTC', 2],
  ['getHours', '2026-03-28T17:30:00Z', 'Asia/Tokyo', 2],
  ['getDayOfYear', '2026-07-01T12:00:00Z', 'Europe/Berlin', 181],
  ['getDayOfYear', '2026-12-31T23:30:00Z', 'Pacific/Kiritimati', 0],
  ['getFullYear', '2026-12-31T23:30:00Z', 'Pacific/Kiritimati', 2027],
  ['getFullYear', '0050-03-08T02:30:00Z', 'UTC', 50],
  ['getMilliseconds', '2026-03-08T02:30:00.123Z', 'Asia/Kathmandu', 123],
  // The last day of year 0 (1 BC), west of UTC: was year 1, and the day after its last.
  ['getFullYear', '0001-01-01T00:00:00Z', 'America/New_York', 0],
  ['getDayOfYear', '0001-01-01T03:00:00Z', 'America/New_York', 365],
  ['getDayOfWeek', '0001-01-01T00:00:00Z', 'America/New_York', 0],
  ['getFullYear', '0001-01-01T00:00:00Z', '-05:00', 0],
  ['getFullYear', '0001-01-01T12:00:00Z', 'America/New_York', 1],
  // The longest names of the tz database, 32 characters.
  ['getHours', '2026-07-01T12:00:00Z', 'America/Argentina/ComodRivadavia', 9],
];

/** [getter, duration, the value CEL gives]: the whole duration in that unit, truncated toward zero. */
const durationCases: readonly (readonly [string, string, number])[] = [
  ['getHours', '90m1.5s', 1],
  ['getMinutes', '90m1.5s', 90],
  ['getSeconds', '90m1.5s', 5401],
  ['getMilliseconds', '90m1.5s', 5_401_500],
  ['getHours', '-90m', -1],
  // Negative with a fraction of a millisecond: toward zero, as cel-go's dur.Milliseconds() (the
  // library rounded down: -2 and -123322). cel-spec timestamps.textproto,
  // duration_converters/get_milliseconds, reads only the milliseconds of the fraction (321 for
  // 123.321456789s), a behaviour it marks to be deprecated; toward zero either way.
  ['getMilliseconds', '-1.5ms', -1],
  ['getMilliseconds', '-123.321456789s', -123_321],
  ['getMilliseconds', '123.321456789s', 123_321],
];

describe.each(['America/New_York', 'Europe/Berlin', 'Pacific/Kiritimati'])('timestamp getters in a service whose process runs in %s', (tz) => {
  let proc: ServerProcess;
  let url: string;
  beforeAll(async () => {
    const policyDir = await tempDir({ 'invoices.json': { id: 'invoices', resource: 'invoice', rules } });
    proc = spawnServer({ TZ: tz, POLICY_DIR: policyDir });
    url = `http://127.0.0.1:${await proc.listening}/decide`;
  });
  afterAll(async () => {
    proc.child.kill();
    await proc.exited;
  });

  async function decide(action: string, context: Record<string, unknown>) {
    const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ subject: { id: 'u1' }, action, resource: { type: 'invoice' }, context }) });
    expect(res.status).toBe(200);
    return (await res.json()) as Record<string, unknown>;
  }

  it('reads each field in UTC, or in the zone given', async () => {
    for (const [getter, at, zone, want] of cases) {
      const action = zone === undefined ? getter : `${getter}-in`;
      const answer = await decide(action, { at, zone, want });
      expect(answer, `${at}.${getter}(${zone ?? ''}) == ${want}`).toMatchObject({ decision: 'permit', reasons: [{ rule: action }] });
    }
  });

  it('reads a duration whole in the unit of each getter', async () => {
    for (const [getter, d, want] of durationCases) {
      expect(await decide(`${getter}-duration`, { d, want }), `duration("${d}").${getter}() == ${want}`).toMatchObject({ decision: 'permit', reasons: [{ rule: `${getter}-duration` }] });
    }
  });

  it('is an error for a zone that is neither a tz database name nor an offset', async () => {
    for (const zone of ['Mars/Olympus', '+5:00', '+24:00', '05:60', '']) {
      expect(await decide('getHours-in', { at: '2026-03-01T12:00:00Z', zone, want: 12 }), zone).toMatchObject({
        decision: 'deny',
        reasons: [{ code: 'no_applicable_rule' }, { code: 'condition_error', rule: 'getHours-in' }],
      });
    }
    // Refused unread: Intl took ~0.1 ms to refuse 16K characters, twice what a zone is costed.
    expect(await decide('getHours-in', { at: '2026-03-01T12:00:00Z', zone: 'x'.repeat(16_000), want: 12 })).toMatchObject({
      decision: 'deny',
      reasons: [{ code: 'no_applicable_rule' }, { code: 'condition_error', rule: 'getHours-in', detail: expect.stringContaining('no time zone has a name of 16000 characters') as unknown }],
    });
  });
});
