/**
 * The Redis implementation of {@link Store}, on npm `ioredis` 6.0.0 and Redis ≥ 7.0,
 * with etcd's guarantees (see notes/ops-features.md §5 for the design and what was
 * measured).
 *
 * Redis has no revisions, no resumable watch and no leases, so the store builds them:
 * - Every mutation is one Lua script (redis-scripts.ts) that bumps `{vx}:rev` and
 *   appends its change(s) to a stream, the change log, at ids `<rev>-<n>`. A list is
 *   one script too, returning the revision it saw: a true snapshot. So list + watch
 *   from its revision is gap-free by construction, as on etcd.
 * - Watches read that log (redis-watch.ts); they resume across reconnects and Redis
 *   restarts, and re-list when the log was trimmed or the data set lost.
 * - Leases are a ZSET scored by expiry on the server's clock plus a SET of bound keys
 *   per lease, kept alive by redis-lease.ts. Nothing in Redis expires them on its own:
 *   every RedisStore runs the (idempotent) reaper script while it is open, so any live
 *   client deletes the keys of a dead one. With no client open, expired leases wait
 *   for the next one.
 * - Durability is Redis's: acknowledged writes survive a crash only with
 *   `appendonly yes` + `appendfsync always` (see {@link RedisStore.durabilityWarnings},
 *   logged once at first connect).
 *
 * Two connections per store: commands (with the scripts) and the watches' blocking
 * reader, opened at the first watch.
 */
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { InvalidArgument, StoreClosed } from '../errors.js';
import {
  StoreConnection,
  connectionOptions,
  parseRedisUrl,
  translateError,
  type ConnectionSettings,
  type ErrorContext,
} from './redis-connection.js';
import { RedisLease, type LeaseServer } from './redis-lease.js';
import { checkListOptions } from './list-page.js';
import { record } from './redis-log.js';
import { defineScripts, recordKey, runScript, type ScriptArg, type ScriptName } from './redis-scripts.js';
import { BLOCK_MS, LogReader, RedisWatch, type BackoffOptions } from './redis-watch.js';
import type {
  CompareResult,
  CreateResult,
  KeyValue,
  Lease,
  ListOptions,
  ListResult,
  Store,
  Watch,
  WatchHandler,
  WriteOptions,
} from './store.js';

/** Smallest lease TTL, in seconds (as etcd): smaller ones are rounded up. */
export const REDIS_MIN_TTL_SECONDS = 2;

/**
 * How often every store runs the reaper, in ms: min(250 ms, shortest TTL / 4), so a
 * dead client's keys go at most a quarter of a TTL late.
 */
const REAP_INTERVAL_MS = Math.min(250, (REDIS_MIN_TTL_SECONDS * 1000) / 4);
/** Leases dropped per reaper run at most. */
const REAP_LIMIT = 100;

export interface RedisStoreOptions {
  /**
   * `redis://host:port/db`, or `rediss://host:port/db` for TLS. No credentials in the
   * URL (refused with InvalidArgument): use `password`.
   */
  url: string;
  /** AUTH password (requirepass, or the ACL user's). */
  password?: string;
  /**
   * ACL user; default: the default user. Enough for the store (tested on 7.0):
   * `ACL SETUSER vxnet on >PASSWORD resetkeys ~{vx}:* resetchannels -@all +@read
   * +@write +@scripting +@connection +@transaction -@dangerous +info +time`
   * (add `+config|get` to let durabilityWarnings check the server).
   */
  username?: string;
  /** PEM contents for TLS; only with rediss://. */
  tls?: { ca?: string; cert?: string; key?: string };
  /** Parent logger; the store logs through `logger.child({ component: 'redis-store' })`. */
  logger?: Logger;
  /**
   * Deadline of each command, in ms, default 5000: a command not answered by then
   * rejects with StoreUnavailable. Commands issued while Redis is away wait for it
   * that long (a short restart loses no write).
   */
  requestTimeoutMs?: number;
  /** Retry delays of a failing watch read, in ms. Default 100 doubling up to 3000. */
  watchBackoff?: BackoffOptions;
  /**
   * How many revisions of change log to keep, default 10000. A watcher further behind
   * than that (e.g. disconnected that long) re-lists instead of replaying. Every client
   * trims, so among clients of one Redis the smallest setting wins.
   */
  historyRevisions?: number;
}

/**
 * {@link Store} on a Redis server. Construct, use, then {@link RedisStore.close}.
 * Operations throw StoreUnavailable when Redis cannot be reached within the request
 * timeout or refuses us (wrong password, out of memory…), StoreLeaseLost when a write
 * names a lease the server does not have, StoreClosed after close().
 */
export class RedisStore implements Store {
  private readonly settings: ConnectionSettings;
  private readonly conn: StoreConnection;
  private readonly log: Logger | undefined;
  private readonly errors: ErrorContext;
  private readonly watchBackoff: BackoffOptions;
  private readonly historyRevisions: number;
  /** How long a mutation's result is kept for a re-sent command, in ms. */
  private readonly opTtlMs: number;
  private readonly watches = new Set<RedisWatch>();
  private readonly leases = new Set<RedisLease>();
  private readonly reaper: NodeJS.Timeout;
  private reader: LogReader | undefined;
  private reaping = false;
  /** The highest revision this client has seen: after a FLUSHALL, revisions go on above it. */
  private seenRevision = 0;
  private epoch: string | undefined;
  private warned = false;

  constructor(opts: RedisStoreOptions) {
    const target = parseRedisUrl(opts.url);
    const timeout = opts.requestTimeoutMs ?? 5000;
    this.historyRevisions = opts.historyRevisions ?? 10_000;
    if (!Number.isSafeInteger(this.historyRevisions) || this.historyRevisions < 1) {
      throw new InvalidArgument(`historyRevisions must be a positive integer, got ${opts.historyRevisions}`);
    }
    this.settings = { target, password: opts.password, username: opts.username, tls: opts.tls, commandTimeoutMs: timeout, name: 'vxnet-store' };
    this.log = opts.logger?.child({ component: 'redis-store' });
    this.errors = { where: target.where, closed: false, timeoutMs: timeout, lastError: undefined };
    this.watchBackoff = opts.watchBackoff ?? { initialMs: 100, maxMs: 3000 };
    this.opTtlMs = Math.max(60_000, 4 * timeout);
    this.conn = this.connect(this.settings);
    this.conn.on('ready', () => this.connected());
    this.reaper = setInterval(() => this.reap(), REAP_INTERVAL_MS);
    this.reaper.unref();
  }

  /** {@inheritDoc Store.get} */
  async get(key: string): Promise<KeyValue | undefined> {
    const h = await this.call(() => this.conn.hmget(recordKey(key), 'v', 'c', 'm', 'n', 'l'));
    if (h[1] === null || h[1] === undefined) return undefined;
    return record(key, h[0], h[1], h[2], h[3], h[4]);
  }

  /** {@inheritDoc Store.list} */
  async list(prefix: string, options?: ListOptions): Promise<ListResult> {
    checkListOptions(options);
    const after = options?.after !== undefined && options.after >= prefix ? options.after : '';
    const r = (await this.call(() => runScript(this.conn, 'vxList', [prefix, after, options?.limit ?? 0]))) as unknown[];
    const revision = Number(r[0]);
    const items: KeyValue[] = [];
    for (let i = 2; i + 5 < r.length; i += 6) items.push(record(String(r[i]), r[i + 1], r[i + 2], r[i + 3], r[i + 4], r[i + 5]));
    this.saw(revision);
    return options?.limit === undefined ? { items, revision } : { items, revision, more: Number(r[1]) === 1 };
  }

  /** {@inheritDoc Store.put} */
  async put(key: string, value: string, options?: WriteOptions): Promise<number> {
    const r = await this.mutate('vxPut', [key, value, options?.lease ?? ''], options?.lease);
    return this.saw(Number(r[1]));
  }

  /** {@inheritDoc Store.create} */
  async create(key: string, value: string, options?: WriteOptions): Promise<CreateResult> {
    const r = await this.mutate('vxCreate', [key, value, options?.lease ?? ''], options?.lease);
    if (r[0] === 1) return { created: true, revision: this.saw(Number(r[1])) };
    return { created: false, current: record(key, r[1], r[2], r[3], r[4], r[5]) };
  }

  /** {@inheritDoc Store.compareAndPut} */
  async compareAndPut(key: string, value: string, expectedModRevision: number, options?: WriteOptions): Promise<CompareResult> {
    checkRevision(expectedModRevision);
    const r = await this.mutate('vxCompareAndPut', [key, value, options?.lease ?? '', expectedModRevision], options?.lease);
    if (r[0] === 1) return { ok: true, revision: this.saw(Number(r[1])) };
    return { ok: false, current: r.length > 1 ? record(key, r[1], r[2], r[3], r[4], r[5]) : undefined };
  }

  /** {@inheritDoc Store.delete} */
  async delete(key: string, expectedModRevision?: number): Promise<boolean> {
    if (expectedModRevision !== undefined) checkRevision(expectedModRevision);
    const r = await this.mutate('vxDelete', [key, expectedModRevision ?? '']);
    if (r[0] !== 1) return false;
    this.saw(Number(r[1]));
    return true;
  }

  /** {@inheritDoc Store.deletePrefix} */
  async deletePrefix(prefix: string): Promise<number> {
    if (prefix === '') throw new InvalidArgument('refusing to delete every key in the store: the prefix is empty');
    const r = await this.mutate('vxDeletePrefix', [prefix]);
    this.saw(Number(r[1]));
    return Number(r[2]);
  }

  /** {@inheritDoc Store.grantLease} */
  async grantLease(ttlSeconds: number): Promise<Lease> {
    if (!(ttlSeconds > 0)) throw new InvalidArgument(`lease TTL must be positive, got ${ttlSeconds} s`);
    const ttl = Math.max(REDIS_MIN_TTL_SECONDS, Math.ceil(ttlSeconds));
    const r = await this.mutate('vxGrant', [ttl * 1000]);
    const server: LeaseServer = {
      keepAlive: async (id, ttlMs) => (await this.call(() => runScript(this.conn, 'vxKeepAlive', [id, ttlMs]), id)) === 1,
      revoke: async (id) => {
        await this.call(() => runScript(this.conn, 'vxRevoke', [opId(), id]), id);
      },
    };
    const lease = new RedisLease(server, String(r[1]), ttl, (l) => this.leases.delete(l), this.log);
    this.leases.add(lease);
    return lease;
  }

  /** {@inheritDoc Store.watch} */
  async watch(prefix: string, from: ListResult, handler: WatchHandler): Promise<Watch> {
    this.checkOpen();
    const reader = (this.reader ??= new LogReader({
      conn: this.connect({ ...this.settings, name: 'vxnet-store-watch', commandTimeoutMs: this.settings.commandTimeoutMs + BLOCK_MS }),
      cmd: this.conn,
      backoff: this.watchBackoff,
      floor: () => this.seenRevision,
      onRevision: (rev) => this.saw(rev),
      logger: this.log,
    }));
    const w = new RedisWatch({
      prefix,
      from,
      handler,
      reader,
      list: (p) => this.list(p),
      backoff: this.watchBackoff,
      onClosed: (x) => this.watches.delete(x),
      logger: this.log,
    });
    this.watches.add(w);
    reader.add(w, from.revision);
    return w;
  }

  /** {@inheritDoc Store.close} */
  async close(): Promise<void> {
    if (this.errors.closed) return;
    this.errors.closed = true;
    clearInterval(this.reaper);
    await Promise.all([...this.watches].map((w) => w.close()));
    this.reader?.close();
    for (const l of this.leases) l.release();
    // QUIT lets answers already on their way arrive (1 s at most); when Redis is away
    // there is nothing to wait for.
    if (this.conn.status === 'ready') {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        this.conn.quit().catch(() => undefined),
        new Promise<void>((resolve) => {
          timer = setTimeout(resolve, 1000);
        }),
      ]);
      clearTimeout(timer);
    }
    this.conn.disconnect();
  }

  /**
   * What in the server's configuration can lose acknowledged writes, as sentences for
   * an operator; empty with `appendonly yes` + `appendfsync always`. Throws
   * StoreUnavailable when the server cannot be reached.
   */
  async durabilityWarnings(): Promise<string[]> {
    const where = this.errors.where;
    let appendonly: string;
    let appendfsync: string;
    try {
      this.checkOpen();
      appendonly = configValue(await this.conn.call('CONFIG', 'GET', 'appendonly'));
      appendfsync = configValue(await this.conn.call('CONFIG', 'GET', 'appendfsync'));
    } catch (err) {
      const msg = (err as Error).message;
      if (!/^(NOPERM|ERR unknown (sub)?command)/i.test(msg)) throw translateError(err, this.errors);
      return [
        `could not check the durability settings of ${where}: CONFIG GET was refused (${msg}); ` +
          'acknowledged writes survive a Redis crash only with appendonly yes and appendfsync always',
      ];
    }
    if (appendonly !== 'yes') {
      return [
        `appendonly is "${appendonly}" on ${where}: the store lives in memory (and in snapshots, if any), ` +
          'so a Redis crash or restart loses acknowledged writes; set appendonly yes and appendfsync always',
      ];
    }
    if (appendfsync === 'everysec') {
      return [`appendfsync is everysec on ${where}: up to 1 s of acknowledged writes can be lost on a crash; set appendfsync always`];
    }
    if (appendfsync !== 'always') {
      return [
        `appendfsync is "${appendfsync}" on ${where}: the OS decides when writes reach the disk (typically within 30 s), ` +
          'so a crash can lose that much of acknowledged writes; set appendfsync always',
      ];
    }
    return [];
  }

  /** A connection with the scripts defined, recording its errors for messages. */
  private connect(settings: ConnectionSettings): StoreConnection {
    const conn = new StoreConnection(connectionOptions(settings));
    defineScripts(conn);
    conn.on('error', (err: Error) => {
      // Logged once per outage; ioredis reports every reconnect attempt.
      if (this.errors.lastError === undefined) this.log?.warn({ err, url: this.errors.where }, 'lost the connection to Redis, reconnecting');
      else this.log?.debug({ err }, 'Redis connection error');
      this.errors.lastError = err;
    });
    conn.on('ready', () => {
      if (this.errors.lastError !== undefined) this.log?.info({ url: this.errors.where }, 'reconnected to Redis');
      this.errors.lastError = undefined;
    });
    return conn;
  }

  /**
   * (Re)connected: make sure a history exists (an epoch, and revisions above what this
   * client has seen), say if it is not the one we knew, and once, what could lose writes.
   */
  private connected(): void {
    runScript(this.conn, 'vxInit', [randomBytes(8).toString('hex'), this.seenRevision, '0'])
      .then((r) => {
        const [epoch, rev] = r as [string, number];
        if (this.epoch !== undefined && epoch !== this.epoch) {
          this.log?.warn({ revision: Number(rev) }, 'the Redis store lost its data (FLUSHALL, or a restart without it): watches re-list');
        }
        this.epoch = epoch;
      })
      .catch((err: unknown) => this.log?.debug({ err }, 'store init failed'));
    if (this.warned) return;
    this.warned = true;
    this.durabilityWarnings()
      .then((warnings) => {
        for (const warning of warnings) this.log?.warn({ warning }, 'the Redis store may lose acknowledged writes');
      })
      .catch((err: unknown) => this.log?.debug({ err }, 'could not check durability settings'));
  }

  /** Run the reaper unless a run is still going or the connection is down (it is idempotent: any client's run will do). */
  private reap(): void {
    if (this.reaping || this.errors.closed || this.conn.status !== 'ready') return;
    this.reaping = true;
    runScript(this.conn, 'vxReap', [opId(), this.historyRevisions, REAP_LIMIT])
      .then((r) => {
        const [leases, keys] = r as [number, number];
        if (leases > 0) this.log?.info({ leases, keys }, 'reaped expired leases');
      })
      .catch((err: unknown) => this.log?.debug({ err }, 'reaper run failed'))
      .finally(() => {
        this.reaping = false;
      });
  }

  /** Run a mutation script with a fresh op id; `lease` names the lease it binds to. */
  private async mutate(name: ScriptName, args: ScriptArg[], lease?: string): Promise<unknown[]> {
    return (await this.call(() => runScript(this.conn, name, [opId(), this.opTtlMs, ...args]), lease)) as unknown[];
  }

  private saw(rev: number): number {
    if (rev > this.seenRevision) this.seenRevision = rev;
    return rev;
  }

  private checkOpen(): void {
    if (this.errors.closed) throw new StoreClosed();
  }

  /** Run one request, translating errors into the catalogue's. */
  private async call<T>(fn: () => Promise<T>, lease?: string): Promise<T> {
    this.checkOpen();
    try {
      return await fn();
    } catch (err) {
      throw translateError(err, this.errors, lease);
    }
  }
}

/** A mutation's id: makes a re-sent command idempotent, and marks its log entries. */
function opId(): string {
  return randomBytes(8).toString('hex');
}

/** CONFIG GET's reply, ['name', 'value'], as the value. */
function configValue(reply: unknown): string {
  return Array.isArray(reply) && reply.length >= 2 ? String(reply[1]) : '(not set)';
}

function checkRevision(rev: number): void {
  if (!Number.isSafeInteger(rev) || rev < 0) throw new InvalidArgument(`a revision must be a non-negative integer, got ${rev}`);
}
