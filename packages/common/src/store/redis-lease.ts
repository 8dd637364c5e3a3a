/**
 * A RedisStore lease, behind {@link Lease}. The server side (a ZSET scored by expiry
 * on Redis's clock, a SET of bound keys, the reaper) is in redis-scripts.ts; this is
 * the client side: a keepalive every TTL/3, and a watchdog that declares the lease
 * lost once no keepalive has been acknowledged for a whole TTL, as EtcdLease does. A
 * client paused past its TTL (SIGSTOP, a long GC) learns it from the watchdog when it
 * resumes; by then any other client's reaper has deleted its keys.
 */
import type { Logger } from 'pino';
import { StoreLeaseLost } from '../errors.js';
import type { Lease } from './store.js';

/** What a lease asks of the store. */
export interface LeaseServer {
  /** Renew for ttlMs: false when the server no longer has the lease. */
  keepAlive(id: string, ttlMs: number): Promise<boolean>;
  /** Drop the lease and its keys; idempotent. */
  revoke(id: string): Promise<void>;
}

/** One granted lease, kept alive until revoked, released or lost. */
export class RedisLease implements Lease {
  private readonly listeners: Array<(err: Error) => void> = [];
  private readonly log: Logger | undefined;
  private readonly keepalive: NodeJS.Timeout;
  private lostError: Error | undefined;
  /** Revoked, released or lost: no more keepalives, no more watchdog. */
  private ended = false;
  private renewing = false;
  private watchdog: NodeJS.Timeout | undefined;

  constructor(
    private readonly server: LeaseServer,
    readonly id: string,
    readonly ttlSeconds: number,
    private readonly onEnded: (l: RedisLease) => void,
    log: Logger | undefined,
  ) {
    this.log = log?.child({ lease: id });
    this.onLost((err) => this.log?.warn({ err }, 'lease lost'));
    this.keepalive = setInterval(() => this.renew(), (ttlSeconds * 1000) / 3);
    this.keepalive.unref();
    this.arm();
  }

  /** {@inheritDoc Lease.onLost} */
  onLost(listener: (err: Error) => void): void {
    const lost = this.lostError;
    if (lost !== undefined) queueMicrotask(() => listener(lost));
    else this.listeners.push(listener);
  }

  /** {@inheritDoc Lease.keepAliveOnce} */
  async keepAliveOnce(): Promise<void> {
    if (this.lostError !== undefined) throw this.lostError;
    if (!(await this.server.keepAlive(this.id, this.ttlSeconds * 1000))) {
      const lost = new StoreLeaseLost(this.id, 'the server no longer has it');
      this.lose(lost);
      throw lost;
    }
    this.arm();
  }

  /** {@inheritDoc Lease.revoke} */
  async revoke(): Promise<void> {
    this.end();
    await this.server.revoke(this.id);
  }

  /** {@inheritDoc Lease.release} */
  release(): void {
    this.end();
  }

  /** One background keepalive, unless the previous one is still waiting for Redis. */
  private renew(): void {
    if (this.renewing || this.ended) return;
    this.renewing = true;
    this.keepAliveOnce()
      .catch((err: unknown) => this.log?.debug({ err }, 'lease keepalive failed'))
      .finally(() => {
        this.renewing = false;
      });
  }

  private arm(): void {
    if (this.ended) return;
    clearTimeout(this.watchdog);
    this.watchdog = setTimeout(
      () => this.lose(new StoreLeaseLost(this.id, `no keepalive acknowledged for ${this.ttlSeconds} s`)),
      this.ttlSeconds * 1000,
    );
    this.watchdog.unref();
  }

  private end(): void {
    if (this.ended) return;
    this.ended = true;
    clearInterval(this.keepalive);
    clearTimeout(this.watchdog);
    this.onEnded(this);
  }

  private lose(err: Error): void {
    if (this.ended) return;
    this.end();
    this.lostError = err;
    for (const listener of this.listeners.splice(0)) listener(err);
  }
}
