const secretName = /(TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIALS?|PRIVATE_KEY|API_KEY|_KEYS)$/i;
const urlLike = /^[a-z][a-z0-9+.-]*:\/\//i;

/**
 * Hides what in a URL often carries a credential, other text returned as is: the password; a user
 * name without a password (a token given as `https://<token>@host`); each query value, and a
 * query parameter's name when it has no value (`?<secret>`); the fragment.
 */
export function maskUrl(value: string): string {
  if (!urlLike.test(value)) return value;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return value;
  }
  if (url.username === '' && url.password === '' && url.search === '' && url.hash === '') return value;
  if (url.password !== '') url.password = '***';
  else if (url.username !== '') url.username = '***';
  if (url.search !== '') url.search = maskedQuery(url.search);
  if (url.hash !== '') url.hash = '***';
  return url.toString();
}

/** `?a=1&b` → `?a=***&***`: names are kept only where they name a value. */
function maskedQuery(search: string): string {
  const parts = search.slice(1).split('&').map((part) => {
    const eq = part.indexOf('=');
    return eq === -1 ? '***' : `${part.slice(0, eq)}=***`;
  });
  return `?${parts.join('&')}`;
}

/**
 * The configuration as the startup log shows it: settings named like secrets (…_TOKEN,
 * …_SECRET, …_PASSWORD, caller keys …_KEYS) only as "[hidden]", URLs masked (see `maskUrl`),
 * in lists too.
 */
export function configSummary(config: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const summary: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(config)) {
    if (value === undefined) continue;
    if (secretName.test(key)) summary[key] = '[hidden]';
    else if (typeof value === 'string') summary[key] = maskUrl(value);
    else if (Array.isArray(value)) summary[key] = value.map((item: unknown) => (typeof item === 'string' ? maskUrl(item) : item));
    else summary[key] = value;
  }
  return summary;
}
