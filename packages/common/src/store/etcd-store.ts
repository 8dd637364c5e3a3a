/**
 * The etcd implementation of {@link Store}, on npm `etcd3` 1.1.2.
 *
 * Notes on etcd3 that shaped this file (see notes/kernel.md "etcd"):
 * - Create-if-absent and compare-and-put are single transactions comparing the key's
 *   create or mod revision; the `else` branch reads the key, so a loser learns the
 *   winner's record atomically.
 * - etcd3's Lease keeps itself alive every TTL/3 but fires `lost` only after 2×TTL
 *   without an acknowledged keepalive. Our contract says "longer than its TTL", so
 *   {@link EtcdLease} runs its own watchdog.
 * - Watches are in etcd-watch.ts: etcd3's own reconnect logic can skip events, so we
 *   resume and re-list ourselves.
 */
import {
  Etcd3,
  Range,
  EtcdLeaseInvalidError,
  ClientClosedError,
  isRecoverableError,
  type Lease as Etcd3Lease,
  type CallContext,
} from 'etcd3';
import { ConsecutiveBreaker, circuitBreaker, handleWhen, noop } from 'cockatiel';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import { InvalidArgument, StoreClosed, StoreLeaseLost, StoreUnavailable, VxnetError } from '../errors.js';
import { explainTlsError } from '../tls.js';
import { toKeyValue } from './etcd-key-value.js';
import { checkListOptions } from './list-page.js';
import { WatchedLease } from './watched-lease.js';
import { EtcdWatch, type BackoffOptions } from './etcd-watch.js';
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

/**
 * etcd3's WatchManager arms a reconnect timer after every stream error, with an
 * exponential backoff that grows to 30 s by default. Our watches detach on error and
 * reconnect on their own schedule, so that timer only ever fires into an empty manager,
 * but it keeps the Node process alive for up to 30 s after close(). A short constant
 * delay (in ms) makes it harmless.
 */
const WATCH_MANAGER_BACKOFF = { duration: 50, next: () => WATCH_MANAGER_BACKOFF };

/**
 * etcd3 puts each endpoint behind a circuit breaker that opens after 3 failed calls
 * and lets one call through again only after 5 s. Right for skipping a dead member of
 * a cluster; but with one member, or the whole cluster restarting, every call and
 * every watch retry is refused for those 5 s after etcd is back (measured: a name
 * started after an etcd restart took 6.5 s to resolve on another host). One second.
 */
const hostBreaker = () => circuitBreaker(handleWhen(isRecoverableError), { halfOpenAfter: 1000, breaker: new ConsecutiveBreaker(3) });

/** etcd rounds smaller TTLs up to this (seconds). */
export const ETCD_MIN_TTL_SECONDS = 2;

export interface EtcdStoreOptions {
  /** Client URLs, e.g. ['http://127.0.0.1:2379']. At least one. */
  endpoints: string[];
  /** Parent logger; the store logs through `logger.child({ component: 'etcd-store' })`. */
  logger?: Logger;
  /** Time each unary request may take, in ms, retries included (each try gets half); streams have none. Default 5000. */
  requestTimeoutMs?: number;
  /** Retry delays of a broken watch, in ms. Default 100 doubling up to 3000. */
  watchBackoff?: BackoffOptions;
  /** etcd's user authentication (`etcdctl auth enable`). */
  auth?: { username: string; password: string };
  /** TLS (https:// endpoints): PEM CA, and a client certificate and key when etcd asks for one. */
  tls?: { ca?: string; cert?: string; key?: string };
}

/**
 * {@link Store} on an etcd v3 cluster. Construct, use, then {@link EtcdStore.close}.
 * Operations throw StoreUnavailable when the cluster cannot be reached (after etcd3's
 * own retries), StoreLeaseLost when a write names a lease the server does not have,
 * StoreClosed after close().
 */
export class EtcdStore implements Store {
  private readonly client: Etcd3;
  private readonly endpoints: string;
  private readonly log: Logger | undefined;
  private readonly watchBackoff: BackoffOptions;
  private readonly watches = new Set<EtcdWatch>();
  private readonly leases = new Set<EtcdLease>();
  private readonly requestTimeoutMs: number;
  private closed = false;

  constructor(opts: EtcdStoreOptions) {
    if (opts.endpoints.length === 0) throw new InvalidArgument('EtcdStore needs at least one endpoint');
    const timeout = opts.requestTimeoutMs ?? 5000;
    this.requestTimeoutMs = timeout;
    this.endpoints = opts.endpoints.join(',');
    this.log = opts.logger?.child({ component: 'etcd-store' });
    this.watchBackoff = opts.watchBackoff ?? { initialMs: 100, maxMs: 3000 };
    this.client = new Etcd3({
      hosts: opts.endpoints,
      // A deadline on unary calls only: a deadline on the watch or keepalive stream
      // would end it. Half the request timeout per try: a member that vanished without
      // a reset (host down, link cut: the connect hangs until ARP gives up, ~3 s) must
      // leave time to retry on another member within the request timeout (call()).
      defaultCallOptions: (ctx: CallContext) => (ctx.isStream ? {} : { deadline: Date.now() + Math.max(1000, Math.floor(timeout / 2)) }),
      // no global retry: etcd3's (3 tries at once, each with a fresh deadline) would make
      // a cluster without a majority answer after 3 deadlines; call() retries instead,
      // spaced out for an election and bounded by one request timeout in all
      faultHandling: { watchBackoff: WATCH_MANAGER_BACKOFF, host: hostBreaker, global: noop },
      ...(opts.auth ? { auth: opts.auth } : {}),
      ...(opts.tls && Object.keys(opts.tls).length > 0 ? { credentials: etcdCredentials(opts.tls) } : {}),
    });
  }

  /** {@inheritDoc Store.get} */
  async get(key: string): Promise<KeyValue | undefined> {
    const res = await this.call(() => this.client.get(key).exec());
    const kv = res.kvs[0];
    return kv === undefined ? undefined : toKeyValue(kv);
  }

  /** {@inheritDoc Store.list} */
  async list(prefix: string, options?: ListOptions): Promise<ListResult> {
    checkListOptions(options);
    const range = () => {
      const all = Range.prefix(prefix);
      // after + NUL is the first key sorting after `after`; etcd ranges are [start, end)
      const start = options?.after !== undefined && options.after >= prefix ? `${options.after}\0` : all.start;
      const b = this.client.getAll().inRange({ start, end: all.end }).sort('Key', 'Ascend');
      return options?.limit === undefined ? b : b.limit(options.limit);
    };
    const res = await this.call(() => range().exec());
    const page = { items: res.kvs.map(toKeyValue), revision: Number(res.header.revision) };
    return options?.limit === undefined ? page : { ...page, more: res.more };
  }

  /** {@inheritDoc Store.put} */
  async put(key: string, value: string, options?: WriteOptions): Promise<number> {
    const res = await this.call(() => this.putOp(key, value, options).exec(), options?.lease);
    return Number(res.header.revision);
  }

  /** {@inheritDoc Store.create} */
  async create(key: string, value: string, options?: WriteOptions): Promise<CreateResult> {
    const res = await this.call(() =>
      this.client.if(key, 'Create', '==', 0).then(this.putOp(key, value, options)).else(this.client.get(key)).commit(),
    options?.lease);
    if (res.succeeded) return { created: true, revision: Number(res.header.revision) };
    const current = res.responses[0]?.response_range?.kvs[0];
    // Create != 0 and the read ran in the same transaction: the key is there.
    if (current === undefined) throw new StoreUnavailable(this.endpoints, `create of "${key}" failed but returned no record`);
    return { created: false, current: toKeyValue(current) };
  }

  /** {@inheritDoc Store.compareAndPut} */
  async compareAndPut(key: string, value: string, expectedModRevision: number, options?: WriteOptions): Promise<CompareResult> {
    checkRevision(expectedModRevision);
    // An absent key has mod revision 0 in etcd's compares, but Create == 0 says it best.
    const cmp = expectedModRevision === 0
      ? this.client.if(key, 'Create', '==', 0)
      : this.client.if(key, 'Mod', '==', expectedModRevision);
    const res = await this.call(() => cmp.then(this.putOp(key, value, options)).else(this.client.get(key)).commit(), options?.lease);
    if (res.succeeded) return { ok: true, revision: Number(res.header.revision) };
    const current = res.responses[0]?.response_range?.kvs[0];
    return { ok: false, current: current === undefined ? undefined : toKeyValue(current) };
  }

  /** {@inheritDoc Store.delete} */
  async delete(key: string, expectedModRevision?: number): Promise<boolean> {
    if (expectedModRevision === undefined) {
      const res = await this.call(() => this.client.delete().key(key).exec());
      return Number(res.deleted) > 0;
    }
    checkRevision(expectedModRevision);
    const res = await this.call(() =>
      this.client.if(key, 'Mod', '==', expectedModRevision).then(this.client.delete().key(key)).commit(),
    );
    return res.succeeded && Number(res.responses[0]?.response_delete_range?.deleted ?? 0) > 0;
  }

  /** {@inheritDoc Store.deletePrefix} */
  async deletePrefix(prefix: string): Promise<number> {
    if (prefix === '') throw new InvalidArgument('refusing to delete every key in the store: the prefix is empty');
    const res = await this.call(() => this.client.delete().prefix(prefix).exec());
    return Number(res.deleted);
  }

  /** {@inheritDoc Store.grantLease} */
  async grantLease(ttlSeconds: number): Promise<Lease> {
    if (!(ttlSeconds > 0)) throw new InvalidArgument(`lease TTL must be positive, got ${ttlSeconds} s`);
    const ttl = Math.max(ETCD_MIN_TTL_SECONDS, Math.ceil(ttlSeconds));
    const inner = this.client.lease(ttl);
    let id: string;
    try {
      id = await this.call(() => inner.grant());
    } catch (err) {
      inner.release();
      throw err;
    }
    const lease = new EtcdLease(inner, id, ttl, this.endpoints, (l) => this.leases.delete(l), this.log);
    this.leases.add(lease);
    return lease;
  }

  /** {@inheritDoc Store.watch} */
  async watch(prefix: string, from: ListResult, handler: WatchHandler): Promise<Watch> {
    this.checkOpen();
    const w = new EtcdWatch({
      client: this.client,
      prefix,
      from,
      handler,
      list: (p) => this.list(p),
      backoff: this.watchBackoff,
      onClosed: (x) => this.watches.delete(x),
      logger: this.log,
    });
    this.watches.add(w);
    return w;
  }

  /** {@inheritDoc Store.close} */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all([...this.watches].map((w) => w.close()));
    for (const l of this.leases) l.release();
    this.client.close();
  }

  private putOp(key: string, value: string, options: WriteOptions | undefined) {
    const op = this.client.put(key).value(value);
    return options?.lease === undefined ? op : op.lease(options.lease);
  }

  private checkOpen(): void {
    if (this.closed) throw new StoreClosed();
  }

  /**
   * Run one request, translating etcd3's errors into the catalogue's; `lease` names the
   * lease a write binds to.
   *
   * Failover: each try goes to one member (etcd3 shuffles them and skips those whose
   * circuit is open), so a request fails at once when it meets the dead member or a
   * follower without a leader during an election. An election takes about one election timeout (1 s by
   * default), so a StoreUnavailable is retried with a short backoff until one request
   * timeout has passed since the first try (each try has half of it: at most one and
   * a half request timeouts in all); the last failure is what the caller sees. Retrying is safe for every operation here: put is idempotent, a
   * compare-and-put or create whose first try did land fails its compare on the
   * retry and returns the current record (which the caller must compare with what it
   * wrote, see the controller's network create), delete of a deleted key is false.
   */
  private async call<T>(fn: () => Promise<T>, lease?: string): Promise<T> {
    this.checkOpen();
    const deadline = Date.now() + this.requestTimeoutMs;
    for (let delay = 50; ; delay = Math.min(delay * 2, 400)) {
      try {
        return await fn();
      } catch (err) {
        const e = translateError(err, this.endpoints, this.closed, lease);
        if (!(e instanceof StoreUnavailable) || this.closed || Date.now() + delay >= deadline) throw e;
        this.log?.debug({ err: e, retryInMs: delay }, 'store request failed, retrying');
        await sleep(delay);
        this.checkOpen();
      }
    }
  }
}

/** An etcd lease kept alive by etcd3, lost after a TTL without an acknowledged keepalive (WatchedLease). */
class EtcdLease extends WatchedLease {
  constructor(
    private readonly inner: Etcd3Lease,
    id: string,
    ttlSeconds: number,
    private readonly endpoints: string,
    private readonly onEnded: (l: EtcdLease) => void,
    log: Logger | undefined,
  ) {
    super(id, ttlSeconds);
    const l = log?.child({ lease: id });
    inner.on('keepaliveSucceeded', () => this.acknowledged());
    inner.on('keepaliveFailed', (err) => l?.debug({ err }, 'lease keepalive failed'));
    inner.on('lost', (err: Error) => this.lose(new StoreLeaseLost(id, err.message, err)));
    this.onLost((err) => l?.warn({ err }, 'lease lost'));
    this.acknowledged();
  }

  /** {@inheritDoc Lease.keepAliveOnce} */
  async keepAliveOnce(): Promise<void> {
    if (this.lost !== undefined) throw this.lost;
    try {
      await this.inner.keepaliveOnce();
    } catch (err) {
      if (err instanceof EtcdLeaseInvalidError) {
        const lost = new StoreLeaseLost(this.id, 'the server no longer has it', err);
        this.lose(lost);
        throw lost;
      }
      throw translateError(err, this.endpoints, false, this.id);
    }
    this.acknowledged();
  }

  /** {@inheritDoc Lease.revoke} */
  async revoke(): Promise<void> {
    this.end();
    // etcd3 treats "lease not found" as success, which makes this idempotent.
    try {
      await this.inner.revoke();
    } catch (err) {
      throw translateError(err, this.endpoints, false, this.id);
    }
  }

  protected ended(): void {
    this.inner.release();
    this.onEnded(this);
  }
}

/**
 * etcd3's credentials (grpc createSsl). Its type requires a CA, but grpc takes null for
 * "the system's CAs"; https:// endpoints with no TLS options at all need no credentials.
 */
function etcdCredentials(tls: NonNullable<EtcdStoreOptions['tls']>) {
  return {
    rootCertificate: tls.ca !== undefined ? Buffer.from(tls.ca) : (null as unknown as Buffer),
    ...(tls.cert !== undefined ? { certChain: Buffer.from(tls.cert) } : {}),
    ...(tls.key !== undefined ? { privateKey: Buffer.from(tls.key) } : {}),
  };
}

function checkRevision(rev: number): void {
  if (!Number.isSafeInteger(rev) || rev < 0) throw new InvalidArgument(`a revision must be a non-negative integer, got ${rev}`);
}

/** Map etcd3's errors to the catalogue; catalogue errors pass through. */
function translateError(err: unknown, endpoints: string, closed: boolean, lease?: string): Error {
  if (err instanceof VxnetError) return err;
  if (closed || err instanceof ClientClosedError) return new StoreClosed();
  const e = err instanceof Error ? err : new Error(String(err));
  if (e instanceof EtcdLeaseInvalidError) return new StoreLeaseLost(lease ?? '(unknown)', 'the server does not have it', e);
  // etcd without a majority answers nothing: say so instead of gRPC's "4 DEADLINE_EXCEEDED: …, LB pick: …"
  if (/DEADLINE_EXCEEDED|deadline exceeded/i.test(e.message)) return new StoreUnavailable(endpoints, 'no answer within the request timeout (a cluster without a majority of its members answers nothing)', e);
  // a refused TLS handshake surfaces as UNAVAILABLE too: say which certificate is at fault
  if (isRecoverableError(e) || /circuit|unavailable|deadline/i.test(e.message)) return new StoreUnavailable(endpoints, explainTlsError(e), e);
  return e;
}
