/**
 * What the etcd and Redis leases share on the client side: the `onLost` listeners, and
 * a watchdog that declares the lease lost once no keepalive has been acknowledged for
 * a whole TTL (the Lease contract's "longer than its TTL"; etcd3 alone would wait 2×TTL,
 * and a client paused past its TTL must learn it the moment it resumes).
 *
 * A subclass calls `acknowledged()` after each successful keepalive, `lose(err)` when
 * the server says the lease is gone, and `end()` on revoke or release; it frees its
 * own resources in `ended()`.
 */
import { StoreLeaseLost } from '../errors.js';
import type { Lease } from './store.js';

export abstract class WatchedLease implements Lease {
  private readonly listeners: Array<(err: Error) => void> = [];
  private lostError: Error | undefined;
  /** Revoked, released or lost: no more keepalives, no more watchdog. */
  private over = false;
  private watchdog: NodeJS.Timeout | undefined;

  constructor(readonly id: string, readonly ttlSeconds: number) {}

  abstract keepAliveOnce(): Promise<void>;
  abstract revoke(): Promise<void>;

  /** {@inheritDoc Lease.release} */
  release(): void {
    this.end();
  }

  /** {@inheritDoc Lease.onLost} */
  onLost(listener: (err: Error) => void): void {
    const lost = this.lostError;
    if (lost !== undefined) queueMicrotask(() => listener(lost));
    else this.listeners.push(listener);
  }

  /** Revoked, released or lost. */
  protected get isOver(): boolean {
    return this.over;
  }

  /** The error it was lost with, if it was. */
  protected get lost(): Error | undefined {
    return this.lostError;
  }

  /** Free what the subclass holds (timers, the client's lease); called once, on end. */
  protected abstract ended(): void;

  /** A keepalive was acknowledged: the lease is good for another TTL. Call once from the constructor too. */
  protected acknowledged(): void {
    if (this.over) return;
    clearTimeout(this.watchdog);
    this.watchdog = setTimeout(
      () => this.lose(new StoreLeaseLost(this.id, `no keepalive acknowledged for ${this.ttlSeconds} s`)),
      this.ttlSeconds * 1000,
    );
    this.watchdog.unref();
  }

  /** Stop keeping it alive (revoke, release). Idempotent. */
  protected end(): void {
    if (this.over) return;
    this.over = true;
    clearTimeout(this.watchdog);
    this.ended();
  }

  /** It is gone: end it and tell the listeners, once. */
  protected lose(err: Error): void {
    if (this.over) return;
    this.end();
    this.lostError = err;
    for (const listener of this.listeners.splice(0)) listener(err);
  }
}
