const secretName = /(TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIALS?|PRIVATE_KEY|API_KEY|_KEYS)$/i;
const urlLike = /^[a-z][a-z0-9+.-]*:\/\//i;

/** Hides a URL's password and query values, which often carry credentials; other text is returned as is. */
export function maskUrl(value: string): string {
  if (!urlLike.test(value)) return value;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return value;
  }
  if (url.password === '' && url.search === '') return value;
  if (url.password !== '') url.password = '***';
  for (const key of [...url.searchParams.keys()]) url.searchParams.set(key, '***');
  return url.toString();
}

/**
 * The configuration as the startup log shows it: settings named like secrets (…_TOKEN,
 * …_SECRET, …_PASSWORD, caller keys …_KEYS) only as "[hidden]", URL passwords and query
 * values masked, in lists too.
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
