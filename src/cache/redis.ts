import type { ConnectionOptions } from 'node:tls';
import { Cluster, Redis } from 'ioredis';
import { parseHostPort, type HostPort } from './address.js';
import { CircuitBreaker } from './breaker.js';
import { connectionError } from './reach.js';
import { decodeEntry, encodeEntry, MAX_ENTRY_BYTES } from './entry.js';
import { type CacheEntry, type CacheLayer, type CacheObserver, silentObserver } from './layer.js';
import { type SentinelAuth, watchSwitchMaster } from './sentinel-watch.js';

/** Which Redis deployment to use; each maps onto ioredis' own support for it. */
export type RedisTarget =
  | { readonly mode: 'standalone'; readonly url: string }
  | { readonly mode: 'cluster'; readonly nodes: readonly string[] }
  | { readonly mode: 'sentinel'; readonly sentinels: readonly string[]; readonly name: string; readonly auth?: SentinelAuth };

/**
 * `up`: connected and trusted; `read_only`: up for lookups, but refusing writes (full, or a
 * replica since a failover); `down`: unreachable, failing or backing off; `disabled`: not configured.
 */
export type RedisState = 'up' | 'read_only' | 'down' | 'disabled';

/** The states of a Redis that is configured. */
export type RedisLiveState = Exclude<RedisState, 'disabled'>;

export interface RedisLayerOptions {
  readonly target: RedisTarget;
  /** Credentials for Cluster and Sentinel data nodes (a standalone URL carries its own). */
  readonly username?: string;
  readonly password?: string;
  /** TLS for every connection, to data nodes and Sentinels alike; plain TCP when undefined (a `rediss://` URL still asks for TLS). */
  readonly tls?: ConnectionOptions;
  /** Longest wait for one command before it counts as a failure, ms. */
  readonly commandTimeoutMs: number;
  /**
   * Pause after a failure before Redis is probed again, ms; doubles per failed probe, and per
   * failure within the longest pause (8 times this) of the last recovery, up to that longest pause.
   */
  readonly backoffMs: number;
  readonly observer?: CacheObserver;
  /**
   * Told when Redis becomes usable, stops being usable, or starts or stops refusing writes, with
   * the last error seen (without a command's arguments).
   */
  readonly onStateChange?: (state: RedisLiveState, cause: unknown) => void;
  /** Signs every entry written and refuses every entry read that it did not sign (CACHE_SIGNING_SECRET). */
  readonly signingSecret?: string;
  /**
   * The longest an entry is written for, ms (CACHE_TTL_SECONDS): one read that claims to live
   * longer was not written by this service, and is refused.
   */
  readonly maxTtlMs: number;
}

type Client = Redis | Cluster;

const reconnectDelay = (attempt: number): number => Math.min(attempt * 100, 2_000);

/** Longest wait for a connection to be made, and then for it to be ready (see #awaitReady), ms. */
const connectTimeoutMs = 2_000;

/** A node that answers READONLY has become a replica: a failover, or REPLICAOF. */
const demoted = (error: Error): boolean => error.message.startsWith('READONLY');

function endpoints(list: readonly string[], defaultPort: number): HostPort[] {
  return list.map((text) => {
    const endpoint = parseHostPort(text, defaultPort);
    if (endpoint === undefined) throw new RangeError(`not a host:port: "${text}"`);
    return endpoint;
  });
}

/**
 * `reconnectOnError` reconnects when it returns true: the refused command is not sent again
 * (true, not 2), as it is a cache write, and with no offline queue it would fail while reconnecting.
 */
function createClient(options: RedisLayerOptions, reconnectOnError: (error: Error) => boolean): Client {
  const { target, tls } = options;
  const credentials = {
    ...(options.username !== undefined && { username: options.username }),
    ...(options.password !== undefined && { password: options.password }),
  };
  // No offline queue and no retries: a command either goes out now or fails now, so a
  // Redis that is away costs a request nothing. Deadlines are the layer's own (withDeadline):
  // ioredis' commandTimeout fires before a reply already received is read.
  const common = { maxRetriesPerRequest: 0, autoResendUnfulfilledCommands: false, connectTimeout: connectTimeoutMs, tls };
  switch (target.mode) {
    case 'standalone':
      return new Redis(target.url, { ...common, enableOfflineQueue: false, retryStrategy: reconnectDelay, reconnectOnError });
    case 'sentinel':
      return new Redis({
        ...common,
        ...credentials,
        sentinels: endpoints(target.sentinels, 26_379),
        name: target.name,
        sentinelUsername: target.auth?.username,
        sentinelPassword: target.auth?.password,
        // Without this flag, ioredis reaches the master Sentinel names over plain TCP whatever `tls` says.
        enableTLSForSentinelMode: tls !== undefined,
        sentinelTLS: tls,
        enableOfflineQueue: false,
        retryStrategy: reconnectDelay,
        reconnectOnError,
      });
    case 'cluster':
      // The Cluster client keeps its offline queue: without it, its own ready check (CLUSTER
      // INFO, sent before it is ready) fails and it never becomes ready. Nothing is queued
      // in practice, since the layer sends only while the client is ready. No reconnectOnError:
      // a Cluster's replica answers a write with MOVED, which the client follows and refreshes
      // its slots on, and its node connections never reconnect (one dropped stays dropped).
      return new Cluster(endpoints(target.nodes, 6_379), {
        clusterRetryStrategy: reconnectDelay,
        // Over TLS a node named by host is reached by that name, which its certificate is checked
        // against: the client would resolve it to an address first, which a certificate naming
        // hosts (as managed services issue) does not hold, and every connection would be refused.
        ...(tls !== undefined && { dnsLookup: (host: string, found: (error: null, address: string) => void) => found(null, host) }),
        redisOptions: { ...common, ...credentials },
      });
  }
}

/**
 * Longest a "down" waits to be told with its cause when the connection closed without an error:
 * the first reconnection goes out 100 ms after the close (reconnectDelay) and fails within the
 * 2 s connect timeout, with the error that says why (ECONNREFUSED, WRONGPASS).
 */
const causeWaitMs = 2_500;

/**
 * What a lookup's GETRANGE brought back. For a missing key Redis answers an empty value (no entry
 * is empty), and nil where GETRANGE answers as GET does, a change redis/redis#11378 proposes
 * and a server speaking the Redis protocol may already make: either is a miss. `invalid`: the key holds another type.
 */
type Reply = Buffer | null | 'invalid';

/** Redis did not answer a command within its deadline. */
class NoReplyError extends Error {}

/**
 * Why Redis is down when it is neither ready nor failed causeWaitMs after start: a Redis that takes
 * the connection but never answers the client's ready check (frozen, or a proxy with nothing
 * behind it) makes the client report no error at all, which would leave the "down" untold for good.
 */
const notReady = (): NoReplyError => new NoReplyError(`not ready within ${String(causeWaitMs)} ms of start, with no error: Redis takes the connection but does not answer, or is still loading its data`);

/**
 * Rejects when `promise` has not settled after `ms`. The rejection waits for the I/O phase
 * (setImmediate runs after it), so a reply that arrived while this process was busy is read
 * first: the deadline measures Redis, not our own event-loop lag.
 */
function withDeadline<T>(promise: Promise<T>, ms: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => setImmediate(() => reject(new NoReplyError(`no reply from Redis within ${ms} ms`))), ms);
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error instanceof Error ? error : new Error(String(error)));
      },
    );
  });
}

/** The database REDIS_URL names (`redis://host/3`); a Cluster has database 0 only. */
function namedDatabase(client: Client): number {
  const db = client instanceof Redis ? client.options.db : undefined;
  // ioredis selects none for a database it could not read as a number (config refuses those).
  return typeof db === 'number' && Number.isInteger(db) ? db : 0;
}

/**
 * Redis refused the database asked for (out of range, or not allowed to this user). ioredis
 * reports it and carries on in database 0, which is not the one configured.
 */
function refusedDatabase(error: unknown): boolean {
  return error instanceof Error && 'command' in error && (error.command as { name?: unknown } | null)?.name === 'select';
}

/**
 * Redis answered a write with an error (OOM when full, READONLY on a replica, MISCONF, NOPERM):
 * it refuses writes, but a lookup is still answered.
 */
function refusedWrite(error: unknown): boolean {
  return error instanceof Error && error.name === 'ReplyError';
}

/** Redis answered, but the key holds another type: bad data, not a failing Redis. */
function wrongType(error: unknown): boolean {
  return error instanceof Error && error.message.startsWith('WRONGTYPE');
}

/**
 * The error as it is told on: ioredis attaches the command that failed, and the arguments of a
 * refused AUTH or HELLO hold the password. A cluster's error holds the last node's error
 * (`lastNodeError`), that AUTH's among them. The commands' names are kept, their arguments are
 * not, in the error and in every error it holds.
 */
function withoutArguments(error: unknown): unknown {
  if (!(error instanceof Error)) return error;
  const fields = Object.entries(error);
  if (!fields.some(([key, value]) => key === 'command' || value instanceof Error)) return error;
  const copy = Object.assign(new Error(error.message), { name: error.name });
  copy.stack = error.stack;
  for (const [key, value] of fields) {
    Object.assign(copy, { [key]: key === 'command' ? { name: (value as { name?: unknown } | null)?.name } : withoutArguments(value) });
  }
  return copy;
}

/**
 * The shared layer: decisions in Redis, read with a deadline and a bound on their size
 * (MAX_ENTRY_BYTES) and validated, written without waiting. Any failure opens a circuit breaker
 * so a dead or slow Redis adds no latency; the client reconnects by itself and the breaker lets
 * Redis back in once a PING, sent when the pause is over, is answered. A write Redis refuses
 * opens a second breaker, for writes only: lookups go on, and one write per pause tries again.
 */
export class RedisCacheLayer implements CacheLayer {
  readonly name = 'redis';
  readonly #client: Client;
  readonly #breaker: CircuitBreaker;
  /** Open while Redis refuses writes; its probe is a write, as a PING would not show they work. */
  readonly #writes: CircuitBreaker;
  readonly #timeoutMs: number;
  readonly #observer: CacheObserver;
  readonly #onStateChange: ((state: RedisLiveState, cause: unknown) => void) | undefined;
  readonly #secret: string | undefined;
  readonly #maxTtlMs: number;
  /** The database every connection must be in; the probe selects it again (see refusedDatabase). */
  readonly #database: number;
  /** What `onStateChange` was last told; nothing yet while Redis is not up and no error was seen. */
  #told: RedisLiveState | undefined;
  #lastError: unknown;
  /** The error of the last write refused. */
  #refusal: unknown;
  /** From 'ready' until a write is answered: no write has been tried on this connection yet. */
  #untriedConnection = false;
  /**
   * From a reconnection asked for (see #followFailover) until the connection closes: commands
   * sent meanwhile fail of our doing, not Redis', and leave the breaker alone.
   */
  #dropping = false;
  #probeTimer: NodeJS.Timeout | undefined;
  /** Set while a connection made waits to be ready (see #awaitReady). */
  #readyTimer: NodeJS.Timeout | undefined;
  /** Set while a "down" is not told yet, waiting for its cause (see #tell). */
  #downUntold: NodeJS.Timeout | undefined;
  /** Tells Redis down (notReady) if nothing was told causeWaitMs after start. */
  readonly #startTimer: NodeJS.Timeout;
  /** Set while a lost node error's node is connected to, to learn why (see #nodeFailed): one at a time. */
  #reaching = false;
  readonly #stopWatching: (() => void) | undefined;

  constructor(options: RedisLayerOptions) {
    this.#timeoutMs = options.commandTimeoutMs;
    this.#breaker = new CircuitBreaker({ backoffMs: options.backoffMs, maxBackoffMs: options.backoffMs * 8 });
    this.#writes = new CircuitBreaker({ backoffMs: options.backoffMs, maxBackoffMs: options.backoffMs * 8 });
    this.#observer = options.observer ?? silentObserver;
    this.#onStateChange = options.onStateChange;
    this.#secret = options.signingSecret;
    this.#maxTtlMs = options.maxTtlMs;
    this.#observer.redisUp(false);
    this.#client = createClient(options, (error) => this.#followFailover(error));
    this.#startTimer = setTimeout(() => this.#told === undefined && this.#tell('down', notReady()), causeWaitMs).unref();
    this.#database = namedDatabase(this.#client);
    this.#client.on('error', (error: unknown) => {
      this.#lastError = error;
      // Told before the connection is ready, so no command reaches database 0 meanwhile: Redis
      // is left alone as after a failure, until a probe selects the database named.
      if (refusedDatabase(error)) this.#open(error);
      // A Redis that is never usable (nothing listening, a wrong password) changes no state: its
      // first error is told as Redis down, with the cause; later drops are told by #refresh, and
      // so is a connection closed before Redis was ever up with no error (a Cluster whose state
      // is fail, which the client's ready check leaves without a word).
      if (this.#told === undefined) this.#tell('down', error);
      // A Cluster's own error holds no more than the node error before it (see #nodeFailed).
      else if (!(this.#client instanceof Cluster)) this.#tellDown(error);
    });
    this.#client.on('ready', () => {
      this.#untriedConnection = true;
      // A new connection may be to another node (the new primary): writes are tried again at once.
      this.#writes.probeNow();
      this.#probe();
    });
    this.#client.on('close', () => (this.#dropping = false));
    this.#client.on('connect', () => this.#awaitReady());
    // A Cluster client stays ready while it holds a connection it never opened (to a replica, as
    // lookups go to primaries): losing every node it uses would change nothing it reports, and
    // an idle process would say Redis is up for good. So each node connection lost is checked.
    if (this.#client instanceof Cluster) {
      this.#client.on('-node', () => this.#check());
      // A Cluster's own error says only that no node answered ("Failed to refresh slots cache.",
      // its last node's error "Connection is closed."); why a node did not (ECONNREFUSED,
      // WRONGPASS) is told of the node, and is the cause a "down" waits for.
      this.#client.on('node error', (error: unknown, node: unknown) => this.#nodeFailed(error, node));
    }
    for (const event of ['ready', 'close', 'end']) this.#client.on(event, () => this.#refresh());
    // Left to itself, the client stays on the old master after a Sentinel failover, and that
    // node takes writes no instance on the new master reads until Sentinel next polls it (every
    // 10 s) and demotes it: the failover is followed as soon as a Sentinel announces it.
    const { target } = options;
    if (target.mode === 'sentinel') {
      this.#stopWatching = watchSwitchMaster(endpoints(target.sentinels, 26_379), target.name, () => this.#reconnect(), { ...target.auth, tls: options.tls });
    }
  }

  /** Whether Redis is usable right now, for readiness reports. */
  state(): RedisLiveState {
    if (this.#client.status !== 'ready' || !this.#breaker.closed) return 'down';
    return this.#writes.closed ? 'up' : 'read_only';
  }

  /**
   * Whether lookups and writes go to Redis now: not while the client is not connected, nor while
   * the connection is being dropped for a new one (#dropping: its stream takes no more commands,
   * and each would fail of our doing, counted as a Redis error), nor while the breaker is open.
   * Skipped, they are not counted, as while Redis is down.
   */
  #inUse(): boolean {
    return this.#client.status === 'ready' && !this.#dropping && this.#breaker.closed;
  }

  async get(key: string, now: number): Promise<CacheEntry | undefined> {
    if (!this.#inUse()) return undefined;
    let reply: Reply;
    try {
      // As #lookup, without its wrapping promise: a lookup of one is every /decide's.
      reply = await withDeadline(this.#client.getrangeBuffer(key, 0, MAX_ENTRY_BYTES) as Promise<Buffer | null>, this.#timeoutMs);
    } catch (error) {
      if (!wrongType(error)) {
        this.#failed(1, error);
        return undefined;
      }
      reply = 'invalid';
    }
    return this.#entryOf(key, reply, now, true);
  }

  /**
   * Every key's GETRANGE goes out at once, without waiting for a reply (pipelined, and to each
   * node of a Cluster its own keys), under one deadline: one round trip. A reply that is an error
   * other than WRONGTYPE, or none within the deadline, fails them all and opens the breaker.
   * The replies are decoded one after `pause` each: a signature check, a JSON parse and its
   * validation, ~0.6 ms for an entry near MAX_ENTRY_BYTES with advice of many small members,
   * so 100 of them decoded at once held the event loop 55-90 ms.
   */
  async getMany(keys: readonly string[], now: number, pause: () => Promise<void>): Promise<(CacheEntry | undefined)[]> {
    if (keys.length === 0 || !this.#inUse()) return keys.map(() => undefined);
    let replies: Reply[];
    try {
      replies = await withDeadline(Promise.all(keys.map((key) => this.#lookup(key))), this.#timeoutMs);
    } catch (error) {
      this.#failed(keys.length, error);
      return keys.map(() => undefined);
    }
    const entries: (CacheEntry | undefined)[] = [];
    for (const [index, key] of keys.entries()) {
      await pause();
      entries.push(this.#entryOf(key, replies[index] ?? null, now, false));
    }
    return entries;
  }

  /**
   * The value under `key`, at most one byte more than an entry may hold, so a value that is too
   * long (megabytes written by someone else) costs no more than a real one and is then refused
   * unparsed (see Reply for a missing key). `invalid` when the key holds another type: bad data,
   * not a failing Redis.
   */
  async #lookup(key: string): Promise<Reply> {
    try {
      return await (this.#client.getrangeBuffer(key, 0, MAX_ENTRY_BYTES) as Promise<Buffer | null>);
    } catch (error) {
      if (wrongType(error)) return 'invalid';
      throw error;
    }
  }

  /**
   * The entry a lookup's reply holds, counted (a hit only when `countHit`: see
   * CacheLayer.getMany). A reply neither a string nor nil, which no Redis gives GETRANGE but a
   * proxy or an imitation of Redis may (an integer), is a bad entry, as a key of another type is.
   */
  #entryOf(key: string, reply: Reply, now: number, countHit: boolean): CacheEntry | undefined {
    const bad = reply === 'invalid' || (reply !== null && !Buffer.isBuffer(reply));
    const entry = bad ? 'invalid' : reply === null || reply.length === 0 ? undefined : decodeEntry(key, reply, now, this.#maxTtlMs, this.#secret);
    // A bad value is one key's problem, not Redis': count it and let the next write replace it.
    if (entry === 'invalid') this.#observer.cacheRequest('redis', 'error');
    else if (entry === undefined) this.#observer.cacheRequest('redis', 'miss');
    else if (countHit) this.#observer.cacheRequest('redis', 'hit');
    return entry === 'invalid' ? undefined : entry;
  }

  /** `count` lookups failed together: each is counted, and Redis is left alone for a pause. */
  #failed(count: number, error: unknown): void {
    for (let i = 0; i < count; i += 1) this.#observer.cacheRequest('redis', 'error');
    this.#open(error);
  }

  set(key: string, entry: CacheEntry, ttlMs: number): void {
    if (!this.#inUse()) return;
    const value = encodeEntry(key, entry, this.#secret);
    if (value === undefined) {
      // Beyond what a read takes back: not shared, and Redis is not to blame.
      this.#observer.cacheWrite('redis', 'too_large');
      return;
    }
    // While Redis refuses writes, they are skipped but for one per pause, which tries again.
    const probe = !this.#writes.closed;
    if (probe && !this.#writes.startProbe()) return;
    withDeadline(this.#client.set(key, value, 'PX', Math.max(1, Math.ceil(ttlMs))), this.#timeoutMs).then(
      () => {
        this.#untriedConnection = false;
        this.#observer.cacheWrite('redis', 'ok');
        if (probe && this.#writes.success()) this.#refresh();
      },
      (error: unknown) => {
        // Counted as a write, not a lookup.
        this.#observer.cacheWrite('redis', 'error');
        if (refusedWrite(error)) {
          this.#untriedConnection = false;
          this.#refuse(error);
          return;
        }
        // No answer says nothing of writes: the next pause's write tries again. Redis is left
        // alone for a pause as for a failed lookup.
        if (probe) this.#writes.failure();
        this.#open(error);
      },
    );
  }

  /** Closes the connection, politely if Redis still answers. */
  async close(): Promise<void> {
    clearTimeout(this.#probeTimer);
    clearTimeout(this.#readyTimer);
    clearTimeout(this.#startTimer);
    this.#stopWatching?.();
    try {
      await withDeadline(this.#client.quit(), 1_000);
    } catch {
      this.#client.disconnect();
    }
    this.#tellDown(undefined);
  }

  /** A lookup, a write or a probe failed: Redis is left alone for a pause. */
  #open(error: unknown): void {
    if (this.#dropping) return;
    this.#lastError = error;
    if (this.#breaker.failure()) this.#refresh();
    this.#probeLater();
  }

  /**
   * Whether the client is to reconnect on a reply, before it is handed on: on READONLY it does,
   * so it follows the DNS name or Sentinel to the new primary. Not when the write refused is the
   * first one on a new connection: that connection went to the replica again (a DNS name not
   * moved yet, an operator's REPLICAOF), and the next write, a pause later, reconnects. So a node
   * that stays a replica costs one reconnection per two pauses, not one per write.
   */
  #followFailover(error: Error): boolean {
    const reconnect = demoted(error) && !this.#untriedConnection;
    if (reconnect) this.#dropping = true;
    return reconnect;
  }

  /**
   * Drops the connection for a new one: Sentinel promoted another master (the reconnection asks
   * Sentinel where the master is), or a probe went unanswered. A client not connected is making
   * a new connection anyway.
   */
  #reconnect(): void {
    if (this.#client.status !== 'ready') return;
    this.#dropping = true;
    this.#client.disconnect(true);
  }

  /**
   * Makes the connection again when it is not ready connectTimeoutMs after it was made. The
   * client's ready check (INFO; CLUSTER INFO, sent to a primary) has no deadline of its own, so a
   * node that takes the connection but never answers (frozen) would hold the client for good,
   * though Sentinel or the Cluster has promoted another primary meanwhile (and a +switch-master
   * finds no ready connection to drop). A new connection asks Sentinel, or the Cluster's nodes,
   * where the primary is now.
   */
  #awaitReady(): void {
    clearTimeout(this.#readyTimer);
    this.#readyTimer = setTimeout(() => {
      if (this.#client.status === 'connect') this.#client.disconnect(true);
    }, connectTimeoutMs).unref();
  }

  /** Redis refused a write: writes are skipped for a pause, lookups go on. */
  #refuse(error: unknown): void {
    this.#refusal = error;
    if (this.#writes.failure()) this.#refresh();
    // Why Redis is down while the client reconnects, when the refusal made it (see #followFailover).
    if (this.#dropping) this.#lastError = error;
  }

  /** Arms the probe for the end of the pause; no timer runs unless the breaker is open. */
  #probeLater(): void {
    clearTimeout(this.#probeTimer);
    const wait = this.#breaker.msUntilProbe();
    this.#probeTimer = wait === undefined ? undefined : setTimeout(() => this.#probe(), wait).unref();
  }

  /**
   * PINGs Redis once the pause is over (SELECTs the database REDIS_URL names, when not 0). The probe needs no decision to come along, so an idle
   * process takes Redis back too, and its /readyz and pdp_redis_up say so.
   */
  #probe(): void {
    // While disconnected, or while the connection is being dropped for a new one (its close can
    // take until the client gives up on a Redis that does not answer, 2 s), there is nothing to
    // probe: the 'ready' event calls this again. A probe over the dropped connection would fail
    // of our doing, which leaves the breaker alone (#open), so it would wait for a verdict for good.
    if (this.#client.status !== 'ready' || this.#dropping) return;
    if (!this.#breaker.startProbe()) {
      // Not due yet by the breaker's clock (or not open at all, and this arms nothing).
      this.#probeLater();
      return;
    }
    const probe = this.#database === 0 ? this.#client.ping() : this.#client.select(this.#database);
    withDeadline(probe, this.#timeoutMs).then(
      () => {
        if (this.#breaker.success()) this.#refresh();
      },
      (error: unknown) => {
        // The connection began to be replaced while the probe waited (a Sentinel's failover
        // notice, a late READONLY): its failure is no verdict on Redis, and #open would ignore it,
        // leaving the breaker waiting for a verdict for good. The new connection probes at once.
        if (this.#dropping) {
          this.#breaker.probeAbandoned();
          return;
        }
        this.#open(error);
        // The connection may be one the network dropped without a word (a firewall or NAT that
        // forgot it), which TCP gives up on only after many minutes of retransmissions: the next
        // probe goes over a new one. A Redis that is only slow costs one reconnection per pause.
        if (error instanceof NoReplyError) this.#reconnect();
      },
    );
  }

  /** A PING while Redis is in use: unanswered, Redis is left alone for a pause, as after a failed lookup. */
  #check(): void {
    if (this.#client.status !== 'ready' || !this.#breaker.closed) return;
    withDeadline(this.#client.ping(), this.#timeoutMs).catch((error: unknown) => this.#open(error));
  }

  #refresh(): void {
    const state = this.state();
    if (state === this.#told) return;
    // An error from before Redis was last up is not why it is down now.
    if (state !== 'down') this.#lastError = undefined;
    this.#tell(state, state === 'read_only' ? this.#refusal : this.#lastError);
  }

  /**
   * Counts the state at once; tells it too, but for a "down" with no cause (the connection closed
   * without an error: Redis killed, or a connection killed while the password was rotated), which
   * waits for the next error, the reconnection's, to be told with it as the cause; or, when none
   * comes within causeWaitMs, or the state changes first, is told without one.
   */
  #tell(state: RedisLiveState, cause: unknown): void {
    this.#told = state;
    // Lookups are answered while writes are refused: Redis is still in use.
    this.#observer.redisUp(state !== 'down');
    this.#tellDown(undefined);
    if (state === 'down' && cause === undefined) {
      this.#downUntold = setTimeout(() => this.#tellDown(undefined), causeWaitMs).unref();
      return;
    }
    this.#onStateChange?.(state, state === 'up' ? undefined : withoutArguments(cause));
  }

  /**
   * A Cluster node failed while a "down" waits for its cause: the node's error is it, unless the
   * client lost it ("Connection is closed.", no code): the node (`host:port`) is then connected to
   * once, to learn why it cannot be (ECONNREFUSED); when it can, the node's error is told. One
   * such connection at a time: the client retries every node, and each retry's error would open
   * another meanwhile, though the first to settle tells the "down".
   */
  #nodeFailed(error: unknown, node: unknown): void {
    if (this.#downUntold === undefined) return;
    const at = typeof node === 'string' ? node.lastIndexOf(':') : -1;
    if ((error instanceof Error && 'code' in error) || typeof node !== 'string' || at < 0) {
      this.#tellDown(error);
      return;
    }
    if (this.#reaching) return;
    this.#reaching = true;
    // Within causeWaitMs, whatever the command deadline: a connection takes a round trip or two.
    void connectionError(node.slice(0, at), Number(node.slice(at + 1)), 1_000).then((unreachable) => {
      this.#reaching = false;
      this.#tellDown(unreachable ?? error);
    });
  }

  /** Tells the "down" waiting for its cause, if one is, with `cause`. */
  #tellDown(cause: unknown): void {
    if (this.#downUntold === undefined) return;
    clearTimeout(this.#downUntold);
    this.#downUntold = undefined;
    this.#onStateChange?.('down', cause === undefined ? undefined : withoutArguments(cause));
  }
}
