import { nearestName } from './nearest-name.js';
import { printable } from './printable.js';

/** A variable set in the environment that looks like a setting but is not one, and the setting it is closest to. */
export interface UnreadSetting {
  readonly name: string;
  readonly didYouMean?: string;
}

/**
 * Prefixes of settings that are words other software uses too, left out of the prefix check:
 * LOG_ (LOG_FORMAT, LOG_DIR of sidecars and shared env files), MAX_ and KEEP_ (MAX_CONNECTIONS,
 * KEEP_ALIVE…), ALLOW_ (ALLOW_EMPTY_PASSWORD of common images), PUBLIC_ (PUBLIC_URL and PUBLIC_PATH
 * of front-end builds), PAGE_ (PAGE_SIZE) and REQUEST_ (CGI's REQUEST_METHOD). A typo of their
 * settings is still caught by its distance to the name.
 */
const sharedPrefixes = new Set(['LOG', 'MAX', 'KEEP', 'ALLOW', 'PUBLIC', 'PAGE', 'REQUEST']);

/** Read outside the settings, by the service (cluster.ts, cli/io.ts) or by node:cluster in a worker. */
const readElsewhere = new Set(['NODE_ENV', 'NO_COLOR', 'NODE_UNIQUE_ID']);

/**
 * Set by other software under one of the settings' prefixes: systemd sets CACHE_DIRECTORY for a
 * unit with CacheDirectory= (its STATE_DIRECTORY, LOGS_DIRECTORY… fall under no prefix of ours).
 */
const setByOthers = new Set(['CACHE_DIRECTORY']);

/**
 * The ports a scheduler hands a task besides PORT, one edit from it: Marathon and Mesos set
 * PORT0, PORT1… and PORTS (the list), which a service reading PORT alone leaves unread by design.
 */
const schedulerPorts = /^PORT(?:\d+|S)$/;

/**
 * The variables Kubernetes sets for each service of the namespace (`REDIS_SERVICE_HOST`,
 * `REDIS_SERVICE_PORT[_NAME]`, `REDIS_PORT[_6379_TCP…]` for a service named redis), known by
 * the `_SERVICE_HOST` it always sets: a service named like a prefix (redis, pdp) must not be warned about.
 */
function serviceLinks(names: readonly string[]): (name: string) => boolean {
  const services = names.flatMap((name) => (name.endsWith('_SERVICE_HOST') ? [name.slice(0, -'_SERVICE_HOST'.length)] : []));
  return (name) => services.some((service) => name.startsWith(service) && /^_(SERVICE_HOST|SERVICE_PORT(_.+)?|PORT(_.+)?)$/.test(name.slice(service.length)));
}

/**
 * The names of `names` (an environment's) that look like settings but are none of `settings`:
 * those starting with a setting's prefix (its part before the first `_`, but for the prefixes
 * other software shares), or within one or two edits of a setting, case aside (`LOGLEVEL`,
 * `log_level`, `CACHE_TTL_SECOND`). Each comes with the closest setting when one is that near.
 * Never a setting, a name read elsewhere (NODE_ENV…) or set by other software (systemd's
 * CACHE_DIRECTORY, Marathon's PORT0 and PORTS), nor a Kubernetes service variable. Sorted by name.
 */
export function unreadSettings(names: readonly string[], settings: readonly string[]): UnreadSetting[] {
  const known = new Set(settings);
  const prefixes = [...new Set(settings.flatMap((setting) => (setting.includes('_') ? [setting.slice(0, setting.indexOf('_') + 1)] : [])))]
    .filter((prefix) => !sharedPrefixes.has(prefix.slice(0, -1)));
  const isServiceLink = serviceLinks(names);
  const found: UnreadSetting[] = [];
  for (const name of [...names].sort()) {
    if (known.has(name) || readElsewhere.has(name) || setByOthers.has(name) || schedulerPorts.test(name) || isServiceLink(name)) continue;
    const didYouMean = nearestName(name, settings);
    const upper = name.toUpperCase();
    if (didYouMean !== undefined) found.push({ name, didYouMean });
    else if (prefixes.some((prefix) => upper.startsWith(prefix))) found.push({ name });
  }
  return found;
}

/** One unread setting as a line of text: `unknown setting CACHE_TTL_SECOND: not read (did you mean CACHE_TTL_SECONDS?)`. */
export function unreadSettingText({ name, didYouMean }: UnreadSetting): string {
  // A name is the environment's to choose, line breaks and escape sequences included.
  return `unknown setting ${printable(name)}: not read${didYouMean === undefined ? '' : ` (did you mean ${didYouMean}?)`}`;
}
