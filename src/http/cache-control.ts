/**
 * The Cache-Control of the answers to GET /healthz, /readyz, /metrics and /admin/policies: each
 * states the process as it is now. Kept by a cache in front that gives answers a default lifetime,
 * a stale /readyz would hold a stopping process in its balancer, and a stale scrape would repeat
 * its counts. Also of every problem answer, which tells of one request's failure: a 401 or a 503
 * kept would be handed to the next caller, whose request may well succeed. The decisions
 * (POST, 200) set nothing: a cache keeps no POST answer by default.
 */
export const noStore = { 'cache-control': 'no-store' };

/**
 * The Cache-Control of the AuthZEN metadata, which changes only with PUBLIC_URL, at a restart: a
 * PEP or a cache in front may keep it five minutes, as OAuth and AuthZEN metadata usually is, and
 * asks again within that much of a change of the service's address.
 */
export const metadataCaching = { 'cache-control': 'max-age=300' };
