/**
 * An in-memory {@link Store} with etcd's semantics (one global revision, create/mod
 * revisions, versions, leases, watches from a revision), for unit tests of the policy
 * above the store (flannel does the same with its in-memory registry).
 *
 * Time is injectable. A lease that is being kept alive never expires, as with a
 * healthy etcd client; a released lease expires `ttlSeconds` after its release, and
 * {@link MemoryStore.expireLease} simulates a lease lost while kept alive. Expiry is
 * checked at the start of every operation and by {@link MemoryStore.expireLeases}.
 */
import { checkListOptions } from './list-page.js';
import { InvalidArgument, StoreClosed, StoreLeaseLost } from '../errors.js';
import type {
  CompareResult,
  CreateResult,
  KeyValue,
  Lease,
  ListOptions,
  ListResult,
  Store,
  Watch,
  WatchEvent,
  WatchHandler,
  WriteOptions,
} from './store.js';

/** A source of time in ms. */
export interface Clock {
  now(): number;
}

/** A clock that only moves when told to. */
export class ManualClock implements Clock {
  constructor(private ms = 0) {}
  /** Current time in ms. */
  now(): number {
    return this.ms;
  }
  /** Move time forward by `ms` milliseconds. */
  advance(ms: number): void {
    if (ms < 0) throw new InvalidArgument(`a clock cannot go back (advance by ${ms} ms)`);
    this.ms += ms;
  }
}

export interface MemoryStoreOptions {
  /** Default: the system clock (Date). */
  clock?: Clock;
}

interface LeaseState {
  ttlSeconds: number;
  keys: Set<string>;
  /** undefined while kept alive; otherwise when it expires, in clock ms. */
  expiresAt: number | undefined;
  handle: MemoryLease;
}

/** One revision's changes, as recorded for watchers. */
interface Change {
  revision: number;
  events: WatchEvent[];
}

export class MemoryStore implements Store {
  private readonly clock: Clock;
  private readonly data = new Map<string, KeyValue>();
  private readonly leases = new Map<string, LeaseState>();
  /** Every change since the store was made: watches start from any revision. */
  private readonly history: Change[] = [];
  private readonly watches = new Set<MemoryWatch>();
  private rev = 0;
  private nextLease = 1;
  private closed = false;

  constructor(opts: MemoryStoreOptions = {}) {
    this.clock = opts.clock ?? { now: () => Date.now() };
  }

  /** {@inheritDoc Store.get} */
  async get(key: string): Promise<KeyValue | undefined> {
    this.begin();
    return this.data.get(key);
  }

  /** {@inheritDoc Store.list} */
  async list(prefix: string, options?: ListOptions): Promise<ListResult> {
    checkListOptions(options);
    this.begin();
    const after = options?.after;
    const all = [...this.data.values()]
      .filter((kv) => kv.key.startsWith(prefix) && (after === undefined || compareKeys(kv.key, after) > 0))
      .sort((a, b) => compareKeys(a.key, b.key));
    const limit = options?.limit;
    if (limit === undefined) return { items: all, revision: this.rev };
    return { items: all.slice(0, limit), revision: this.rev, more: all.length > limit };
  }

  /** {@inheritDoc Store.put} */
  async put(key: string, value: string, options?: WriteOptions): Promise<number> {
    this.begin();
    this.write(key, value, options?.lease);
    return this.rev;
  }

  /** {@inheritDoc Store.create} */
  async create(key: string, value: string, options?: WriteOptions): Promise<CreateResult> {
    this.begin();
    const current = this.data.get(key);
    if (current !== undefined) return { created: false, current };
    this.write(key, value, options?.lease);
    return { created: true, revision: this.rev };
  }

  /** {@inheritDoc Store.compareAndPut} */
  async compareAndPut(key: string, value: string, expectedModRevision: number, options?: WriteOptions): Promise<CompareResult> {
    this.begin();
    checkRevision(expectedModRevision);
    const current = this.data.get(key);
    if ((current?.modRevision ?? 0) !== expectedModRevision) return { ok: false, current };
    this.write(key, value, options?.lease);
    return { ok: true, revision: this.rev };
  }

  /** {@inheritDoc Store.delete} */
  async delete(key: string, expectedModRevision?: number): Promise<boolean> {
    this.begin();
    if (expectedModRevision !== undefined) checkRevision(expectedModRevision);
    const current = this.data.get(key);
    if (current === undefined) return false;
    if (expectedModRevision !== undefined && current.modRevision !== expectedModRevision) return false;
    this.remove([key]);
    return true;
  }

  /** {@inheritDoc Store.deletePrefix} */
  async deletePrefix(prefix: string): Promise<number> {
    this.begin();
    if (prefix === '') throw new InvalidArgument('refusing to delete every key in the store: the prefix is empty');
    const keys = [...this.data.keys()].filter((k) => k.startsWith(prefix)).sort(compareKeys);
    this.remove(keys);
    return keys.length;
  }

  /** {@inheritDoc Store.grantLease} */
  async grantLease(ttlSeconds: number): Promise<Lease> {
    this.begin();
    if (!(ttlSeconds > 0)) throw new InvalidArgument(`lease TTL must be positive, got ${ttlSeconds} s`);
    const id = String(this.nextLease++);
    const ttl = Math.max(2, Math.ceil(ttlSeconds));
    const handle = new MemoryLease(id, ttl, {
      renew: () => this.renewLease(id),
      revoke: () => {
        this.begin();
        this.dropLease(id);
      },
      release: () => this.releaseLease(id),
    });
    this.leases.set(id, { ttlSeconds: ttl, keys: new Set(), expiresAt: undefined, handle });
    return handle;
  }

  /** {@inheritDoc Store.watch} */
  async watch(prefix: string, from: ListResult, handler: WatchHandler): Promise<Watch> {
    this.begin();
    const w = new MemoryWatch(prefix, from.revision, handler, this.history, (x) => this.watches.delete(x));
    this.watches.add(w);
    w.pump();
    return w;
  }

  /** {@inheritDoc Store.close} */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all([...this.watches].map((w) => w.close()));
    for (const l of this.leases.values()) l.handle.release();
  }

  /**
   * Expire every released lease whose TTL has run out by the clock, deleting its keys
   * (one revision per lease, like etcd). Returns the number of leases expired. Idempotent.
   */
  expireLeases(): number {
    let n = 0;
    const now = this.clock.now();
    for (const [id, l] of this.leases) {
      if (l.expiresAt !== undefined && l.expiresAt <= now) {
        this.dropLease(id);
        n++;
      }
    }
    return n;
  }

  /**
   * Make the server lose a lease now, as if its keepalives had failed for a whole TTL:
   * its keys are deleted and its onLost listeners are called. Returns false if there
   * was no such lease. For tests.
   */
  expireLease(id: string): boolean {
    const l = this.leases.get(id);
    if (l === undefined) return false;
    this.dropLease(id);
    l.handle.lose(new StoreLeaseLost(id, 'expired on the server'));
    return true;
  }

  private renewLease(id: string): void {
    this.begin();
    const l = this.leases.get(id);
    if (l === undefined) throw new StoreLeaseLost(id, 'the server no longer has it');
    if (l.expiresAt !== undefined) l.expiresAt = this.clock.now() + l.ttlSeconds * 1000;
  }

  private releaseLease(id: string): void {
    const l = this.leases.get(id);
    if (l !== undefined && l.expiresAt === undefined) l.expiresAt = this.clock.now() + l.ttlSeconds * 1000;
  }

  private dropLease(id: string): void {
    const l = this.leases.get(id);
    if (l === undefined) return;
    this.leases.delete(id);
    this.remove([...l.keys].sort(compareKeys));
  }

  private begin(): void {
    if (this.closed) throw new StoreClosed();
    this.expireLeases();
  }

  private write(key: string, value: string, lease: string | undefined): void {
    if (lease !== undefined && !this.leases.has(lease)) throw new StoreLeaseLost(lease, 'the server does not have it');
    const prev = this.data.get(key);
    const revision = ++this.rev;
    const kv: KeyValue = {
      key,
      value,
      createRevision: prev?.createRevision ?? revision,
      modRevision: revision,
      version: (prev?.version ?? 0) + 1,
      lease,
    };
    if (prev?.lease !== undefined) this.leases.get(prev.lease)?.keys.delete(key);
    if (lease !== undefined) this.leases.get(lease)?.keys.add(key);
    this.data.set(key, kv);
    this.record({ revision, events: [prev === undefined ? { type: 'put', kv } : { type: 'put', kv, prev }] });
  }

  /** Delete keys (all present) at one new revision. */
  private remove(keys: string[]): void {
    if (keys.length === 0) return;
    const revision = ++this.rev;
    const events: WatchEvent[] = [];
    for (const key of keys) {
      const prev = this.data.get(key);
      if (prev === undefined) continue;
      this.data.delete(key);
      if (prev.lease !== undefined) this.leases.get(prev.lease)?.keys.delete(key);
      events.push({ type: 'delete', key, revision, prev });
    }
    this.record({ revision, events });
  }

  private record(change: Change): void {
    this.history.push(change);
    for (const w of this.watches) w.pump();
  }
}

class MemoryLease implements Lease {
  private readonly listeners: Array<(err: Error) => void> = [];
  private lostError: Error | undefined;
  private ended = false;

  constructor(
    readonly id: string,
    readonly ttlSeconds: number,
    private readonly server: { renew(): void; revoke(): void; release(): void },
  ) {}

  /** {@inheritDoc Lease.onLost} */
  onLost(listener: (err: Error) => void): void {
    const lost = this.lostError;
    if (lost !== undefined) queueMicrotask(() => listener(lost));
    else this.listeners.push(listener);
  }

  /** {@inheritDoc Lease.keepAliveOnce} */
  async keepAliveOnce(): Promise<void> {
    if (this.lostError !== undefined) throw this.lostError;
    this.server.renew();
  }

  /** {@inheritDoc Lease.revoke} */
  async revoke(): Promise<void> {
    this.ended = true;
    this.server.revoke();
  }

  /** {@inheritDoc Lease.release} */
  release(): void {
    if (this.ended) return;
    this.ended = true;
    this.server.release();
  }

  /** Called by the store when it drops the lease while it is kept alive. */
  lose(err: Error): void {
    if (this.ended) return;
    this.ended = true;
    this.lostError = err;
    for (const listener of this.listeners.splice(0)) listener(err);
  }
}

class MemoryWatch implements Watch {
  private delivered: number;
  private running = false;
  private closed = false;

  constructor(
    private readonly prefix: string,
    from: number,
    private readonly handler: WatchHandler,
    private readonly history: readonly Change[],
    private readonly onClosed: (w: MemoryWatch) => void,
  ) {
    this.delivered = from;
  }

  /** {@inheritDoc Watch.revision} */
  get revision(): number {
    return this.delivered;
  }

  /** {@inheritDoc Watch.close} */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.onClosed(this);
  }

  /** Deliver every recorded change after `delivered`, one handler call at a time. */
  pump(): void {
    if (this.running || this.closed) return;
    this.running = true;
    void this.drain().finally(() => {
      this.running = false;
      // A change recorded after drain's last check but before this line.
      if (this.delivered < this.history.length) this.pump();
    });
  }

  private async drain(): Promise<void> {
    // Revisions are dense from 1, so history[i] holds revision i + 1.
    while (!this.closed && this.delivered < this.history.length) {
      const change = this.history[this.delivered];
      if (change === undefined) break;
      const events = change.events.filter((e) => (e.type === 'put' ? e.kv.key : e.key).startsWith(this.prefix));
      this.delivered = change.revision;
      if (events.length === 0) continue;
      try {
        await this.handler.onEvents(events, change.revision);
      } catch (err) {
        this.handler.onError?.(err as Error);
      }
    }
  }
}

function checkRevision(rev: number): void {
  if (!Number.isSafeInteger(rev) || rev < 0) throw new InvalidArgument(`a revision must be a non-negative integer, got ${rev}`);
}

/** etcd orders keys by their bytes; for strings, code-unit order is close enough for tests. */
function compareKeys(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
