/**
 * Connections to the Redis server behind RedisStore: the store URL as ioredis options,
 * the settings that let a write wait out a short Redis restart without ever hanging,
 * and Redis's errors as the catalogue's.
 *
 * ioredis settings, and why:
 * - `maxRetriesPerRequest: null` + `commandTimeout`: a command issued while Redis is
 *   away waits in the offline queue for the reconnect (a kill -9 and restart loses no
 *   write), and rejects after `requestTimeoutMs` if Redis is not back by then.
 * - {@link StoreConnection}: after a reconnect ioredis re-sends the queued commands and
 *   those that were in flight, including ones its commandTimeout already rejected. A
 *   write reported failed must not be applied later behind the caller's back, so a
 *   settled command is never sent. (In-flight ones that are still waiting are re-sent;
 *   the op ids of redis-scripts.ts make that safe.)
 * - RESP2: the replies parsed here (XREAD, script arrays) have one shape on every
 *   server, and it needs no HELLO.
 */
import { Redis, type RedisOptions } from 'ioredis';
import { InvalidArgument, StoreClosed, StoreLeaseLost, StoreUnavailable, VxnetError } from '../errors.js';

export interface RedisTarget {
  host: string;
  port: number;
  db: number;
  tls: boolean;
  /** The URL for messages and logs, normalised: `redis://host:port/db`. */
  where: string;
}

/** Parse `redis://host[:port][/db]` or `rediss://…` (TLS). Credentials in the URL are refused. */
export function parseRedisUrl(url: string): RedisTarget {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new InvalidArgument(`invalid Redis URL "${url}": expected redis://host:port/db or rediss://host:port/db`);
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') {
    throw new InvalidArgument(`invalid Redis URL "${u.protocol}//${u.host}": the scheme must be redis:// or rediss:// (TLS)`);
  }
  if (u.username !== '' || u.password !== '') {
    // Not echoed back: the point is not to print it.
    throw new InvalidArgument('the Redis URL must not carry credentials (they end up in process listings and logs): pass the password in the `password` option');
  }
  if (u.search !== '' || u.hash !== '') throw new InvalidArgument(`invalid Redis URL "${url}": no query or fragment, store options are set apart`);
  const host = u.hostname.replace(/^\[(.*)\]$/, '$1');
  if (host === '') throw new InvalidArgument(`invalid Redis URL "${url}": no host`);
  const port = u.port === '' ? 6379 : Number(u.port);
  const path = u.pathname.replace(/^\//, '');
  const db = path === '' ? 0 : Number(path);
  if (!/^\d*$/.test(path) || !Number.isSafeInteger(db)) throw new InvalidArgument(`invalid Redis URL "${url}": the path must be a database number`);
  return { host, port, db, tls: u.protocol === 'rediss:', where: `${u.protocol}//${u.host}/${db}` };
}

export interface ConnectionSettings {
  target: RedisTarget;
  password?: string | undefined;
  username?: string | undefined;
  /** PEM contents; only with rediss://. */
  tls?: { ca?: string; cert?: string; key?: string } | undefined;
  /** Deadline of each command, in ms. */
  commandTimeoutMs: number;
  /** Shown in CLIENT LIST. */
  name: string;
}

export function connectionOptions(s: ConnectionSettings): RedisOptions & { replyMapping?: 'legacy' } {
  if (s.tls !== undefined && !s.target.tls) throw new InvalidArgument(`TLS options were given for ${s.target.where}: use a rediss:// URL`);
  return {
    host: s.target.host,
    port: s.target.port,
    db: s.target.db,
    ...(s.username !== undefined ? { username: s.username } : {}),
    ...(s.password !== undefined ? { password: s.password } : {}),
    ...(s.target.tls ? { tls: { ...(s.tls ?? {}) } } : {}),
    protocol: 2,
    connectionName: s.name,
    disableClientInfo: true,
    commandTimeout: s.commandTimeoutMs,
    connectTimeout: s.commandTimeoutMs,
    maxRetriesPerRequest: null,
    enableOfflineQueue: true,
    // Reconnect soon after a restart: 100, 200, 400 ms, then every second.
    retryStrategy: (times: number) => Math.min(50 * 2 ** times, 1000),
  };
}

/** A connection that never sends a command whose caller has already been answered (see the top of this file). */
export class StoreConnection extends Redis {
  override sendCommand(...args: Parameters<Redis['sendCommand']>): unknown {
    const [command] = args;
    if (command.isSettled) return command.promise;
    return super.sendCommand(...args);
  }
}

/** What translateError needs to know about the client. */
export interface ErrorContext {
  where: string;
  closed: boolean;
  timeoutMs: number;
  /** The last connection error (refused, wrong password…), cleared when the connection is ready. */
  lastError: Error | undefined;
}

/** Refusals that say the server cannot serve us now (or at all, with these credentials). */
const UNAVAILABLE = /^(NOAUTH|WRONGPASS|NOPERM|OOM|READONLY|LOADING|MASTERDOWN|BUSY|MISCONF|CLUSTERDOWN|TRYAGAIN)\b/;

/** Map ioredis's and Redis's errors to the catalogue; catalogue errors pass through. */
export function translateError(err: unknown, ctx: ErrorContext, lease?: string): Error {
  if (err instanceof VxnetError) return err;
  if (ctx.closed) return new StoreClosed();
  const e = err instanceof Error ? err : new Error(String(err));
  const msg = e.message;
  if (msg.startsWith('VXLEASE')) return new StoreLeaseLost(lease ?? '(unknown)', 'the server does not have it', e);
  if (msg === 'Command timed out') {
    const last = ctx.lastError === undefined ? '' : ` (last connection error: ${ctx.lastError.message})`;
    return new StoreUnavailable(ctx.where, `no answer within ${ctx.timeoutMs} ms${last}`, e);
  }
  if (/^(NOAUTH|WRONGPASS)\b/.test(msg)) return new StoreUnavailable(ctx.where, `${msg} (check the store's password and username)`, e);
  if (UNAVAILABLE.test(msg) || msg === 'Connection is closed.' || e.name === 'MaxRetriesPerRequestError' || e.name === 'AbortError') {
    return new StoreUnavailable(ctx.where, msg, e);
  }
  return e;
}
