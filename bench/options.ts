import { parseArgs } from 'node:util';

/** The sections of the default run, in the order it runs them. */
const sectionNames = ['inprocess', 'http', 'scale'] as const;
export type Section = (typeof sectionNames)[number];

/** `npm run bench` options (see bench/run.ts), checked: a value the run would misread is refused. */
export interface BenchOptions {
  readonly quick: boolean;
  readonly memory: boolean;
  readonly noCerbos: boolean;
  readonly profile: boolean;
  readonly hotpath: boolean;
  readonly ceiling: boolean;
  readonly connections: number;
  readonly seconds: number | undefined;
  readonly warmup: number | undefined;
  readonly rounds: number | undefined;
  readonly only: ReadonlySet<Section>;
  /** `--load=node`: the Node load generator even where wrk is installed. */
  readonly nodeLoad: boolean;
  readonly compare: string | undefined;
  readonly endpoint: string;
}

/** A whole number of at least `min`; wrk takes whole seconds and counts. */
function whole(name: string, value: string | undefined, min: number): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < min) throw new Error(`--${name} takes a whole number of at least ${min}, not ${JSON.stringify(value)}`);
  return n;
}

export function benchOptions(args: readonly string[]): BenchOptions {
  const { values } = parseArgs({
    args: [...args],
    options: {
      quick: { type: 'boolean', default: false },
      memory: { type: 'boolean', default: false },
      'no-cerbos': { type: 'boolean', default: false },
      connections: { type: 'string', default: '32' },
      seconds: { type: 'string' },
      warmup: { type: 'string' },
      only: { type: 'string' },
      load: { type: 'string' },
      compare: { type: 'string' },
      endpoint: { type: 'string', default: 'decide' },
      profile: { type: 'boolean', default: false },
      hotpath: { type: 'boolean', default: false },
      ceiling: { type: 'boolean', default: false },
      rounds: { type: 'string' },
    },
    strict: true,
  });
  const only = (values.only ?? sectionNames.join(',')).split(',');
  const unknown = only.filter((s) => !(sectionNames as readonly string[]).includes(s));
  if (unknown.length > 0) throw new Error(`--only takes a comma-separated list of ${sectionNames.join(', ')}, not ${JSON.stringify(unknown.join(','))}`);
  if (values.load !== undefined && values.load !== 'node') throw new Error(`--load takes node (the Node load generator even where wrk is installed), not ${JSON.stringify(values.load)}`);
  // Each of these runs on its own; --hotpath takes --compare as the build to load beside this one.
  const modes = [values.memory && '--memory', values.profile && '--profile', values.ceiling && '--ceiling', values.hotpath && '--hotpath', !values.hotpath && values.compare !== undefined && '--compare'].filter((m) => m !== false);
  if (modes.length > 1) throw new Error(`${modes.join(' and ')} are separate runs: give one`);
  // A quick run is the smoke of the default run, and never writes the committed results.
  if (values.quick && modes.length > 0) throw new Error(`--quick is a smoke of the default run: it does not apply to ${modes.join('')}`);
  const seconds = whole('seconds', values.seconds, 1);
  // RSS is sampled every 5 s and each half's lowest sample compared: a half needs one.
  if (values.memory && seconds !== undefined && seconds < 15) throw new Error(`--memory takes --seconds of at least 15 (RSS sampled every 5 s, in each half of the run), not ${seconds}`);
  return {
    quick: values.quick,
    memory: values.memory,
    noCerbos: values['no-cerbos'],
    profile: values.profile,
    hotpath: values.hotpath,
    ceiling: values.ceiling,
    connections: whole('connections', values.connections, 1) ?? 32,
    seconds,
    warmup: whole('warmup', values.warmup, 0),
    rounds: whole('rounds', values.rounds, 1),
    only: new Set(only as Section[]),
    nodeLoad: values.load === 'node',
    compare: values.compare,
    endpoint: values.endpoint,
  };
}
