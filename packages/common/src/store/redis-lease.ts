/**
 * A RedisStore lease, behind {@link Lease}. The server side (a ZSET scored by expiry
 * on Redis's clock, a SET of bound keys, the reaper) is in redis-scripts.ts; this is
 * the client side: a keepalive every TTL/3, and the watchdog of WatchedLease. A
 * client paused past its TTL (SIGSTOP, a long GC) learns it from the watchdog when it
 * resumes; by then any other client's reaper has deleted its keys.
 */
import type { Logger } from 'pino';
import { StoreLeaseLost } from '../errors.js';
import { WatchedLease } from './watched-lease.js';

/** What a lease asks of the store. */
export interface LeaseServer {
  /** Renew for ttlMs: false when the server no longer has the lease. */
  keepAlive(id: string, ttlMs: number): Promise<boolean>;
  /** Drop the lease and its keys; idempotent. */
  revoke(id: string): Promise<void>;
}

/** One granted lease, kept alive until revoked, released or lost. */
export class RedisLease extends WatchedLease {
  private readonly log: Logger | undefined;
  private readonly keepalive: NodeJS.Timeout;
  private renewing = false;

  constructor(
    private readonly server: LeaseServer,
    id: string,
    ttlSeconds: number,
    private readonly onEnded: (l: RedisLease) => void,
    log: Logger | undefined,
  ) {
    super(id, ttlSeconds);
    this.log = log?.child({ lease: id });
    this.onLost((err) => this.log?.warn({ err }, 'lease lost'));
    this.keepalive = setInterval(() => this.renew(), (ttlSeconds * 1000) / 3);
    this.keepalive.unref();
    this.acknowledged();
  }

  /** {@inheritDoc Lease.keepAliveOnce} */
  async keepAliveOnce(): Promise<void> {
    if (this.lost !== undefined) throw this.lost;
    if (!(await this.server.keepAlive(this.id, this.ttlSeconds * 1000))) {
      const lost = new StoreLeaseLost(this.id, 'the server no longer has it');
      this.lose(lost);
      throw lost;
    }
    this.acknowledged();
  }

  /** {@inheritDoc Lease.revoke} */
  async revoke(): Promise<void> {
    this.end();
    await this.server.revoke(this.id);
  }

  protected ended(): void {
    clearInterval(this.keepalive);
    this.onEnded(this);
  }

  /** One background keepalive, unless the previous one is still waiting for Redis. */
  private renew(): void {
    if (this.renewing || this.isOver) return;
    this.renewing = true;
    this.keepAliveOnce()
      .catch((err: unknown) => this.log?.debug({ err }, 'lease keepalive failed'))
      .finally(() => {
        this.renewing = false;
      });
  }
}
