/**
 * The agent's DNS workers, seen from the main thread: `threads` Worker threads
 * (dns-worker.ts) that together serve every joined network on port 53 of its
 * addresses, each socket bound inside that network's namespace: every thread a UDP
 * socket per address (one SO_REUSEPORT group, datagrams spread at random), thread 0
 * also TCP. The main thread posts all of them the same snapshots of the records and
 * answers their forwarded queries through the Forwarder, from the host namespace (the
 * network namespaces have no route to the upstreams).
 *
 * The threads start, serve and stop together: a network is served when every thread
 * has bound it (or by none: a thread's failure unserves it on the others), a snapshot
 * is applied when every thread has applied it, and when any thread exits the others
 * are ended too, so that the next start() begins again from a full set.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { Logger } from '@vxnet/common';
import type { Forwarder } from './forwarder.js';
import type { FromWorker, QueryCount, ToWorker, WorkerConfig } from './protocol.js';
import { ROTATION_BUCKETS, type DnsSnapshot } from './resolver.js';

export interface DnsWorkerOptions {
  /** Default 53. */
  port?: number;
  /** TTL of internal answers, seconds. Default 5. */
  ttl?: number;
  /** DNS threads (UDP sockets per address). Default defaultDnsThreads(). */
  threads?: number;
  /** Where non-internal queries go; without one they get SERVFAIL. */
  forwarder: Forwarder | undefined;
  log: Logger;
}

const STOP_GRACE_MS = 1000;
const MAX_FORWARDS = 4096;

/**
 * The default of DnsWorkerOptions.threads: 1 on up to 3 CPUs, 2 from 4. Measured on 2
 * CPUs (bench/results/dns.md), a second thread does not pay: the client and the
 * kernel's send path (~45 % of a thread's profile is sendmsg) need the other CPU. With
 * CPUs to spare it should (each thread sends on its own); that is not measured here.
 * Each thread costs ~10–18 MB of RSS.
 */
export function defaultDnsThreads(): number {
  return availableParallelism() >= 4 ? 2 : 1;
}

export class DnsWorker {
  private threads: Thread[] = [];
  private version = 0;
  private closing: Promise<void> | undefined;
  private starting: Promise<void> | undefined;
  /** The last counts each thread sent: what a scrape gets when a thread is busy or gone. */
  private readonly lastQueries = new Map<number, QueryCount[]>();
  private readonly threadCount: number;

  constructor(private readonly o: DnsWorkerOptions) {
    this.threadCount = o.threads ?? defaultDnsThreads();
    if (!Number.isInteger(this.threadCount) || this.threadCount < 1) throw new Error(`DNS threads must be a positive integer, not ${String(o.threads)}`);
  }

  /** Start the threads (once while they run) with `snapshot` as their first records. */
  start(snapshot: DnsSnapshot): Promise<void> {
    this.starting ??= this.startThreads(snapshot);
    return this.starting;
  }

  private async startThreads(snapshot: DnsSnapshot): Promise<void> {
    const rotation = new SharedArrayBuffer(4 * ROTATION_BUCKETS);
    const threads: Thread[] = [];
    for (let index = 0; index < this.threadCount; index++) {
      const cfg: WorkerConfig = { port: this.o.port ?? 53, ttl: this.o.ttl ?? 5, maxForwards: MAX_FORWARDS, index, threads: this.threadCount, rotation };
      threads.push(new Thread(cfg, this.o, (queries) => this.lastQueries.set(index, queries), () => this.onExit(threads)));
    }
    this.threads = threads;
    this.closing = undefined;
    // posted now, queued until each thread listens: before any later update()
    const version = ++this.version;
    const applied = Promise.all(threads.map((t) => t.update(version, snapshot)));
    try {
      await Promise.all(threads.map((t) => t.ready));
      await applied;
    } catch (err) {
      for (const t of threads) t.end();
      throw err;
    }
  }

  /** A thread exited (stopped, crashed or failed to start): end the others; the next start() begins anew. */
  private onExit(threads: Thread[]): void {
    if (this.threads !== threads) return;
    this.threads = [];
    this.starting = undefined;
    for (const t of threads) t.end();
  }

  /**
   * Queries answered so far, by kind and rcode, summed over the threads (monotonic
   * while they live). Asks each thread; takes the last counts a thread sent when it
   * does not answer within `timeoutMs` or does not run. Never rejects.
   */
  async queryCounts(timeoutMs = 500): Promise<QueryCount[]> {
    const threads = this.threads;
    await Promise.all(threads.map((t) => t.askStats(timeoutMs)));
    const sum = new Map<string, QueryCount>();
    for (const queries of this.lastQueries.values()) {
      for (const q of queries) {
        const key = `${q.kind} ${q.rcode}`;
        const cur = sum.get(key);
        if (cur) cur.count += q.count;
        else sum.set(key, { ...q });
      }
    }
    return [...sum.values()];
  }

  /** True while the threads run. */
  get running(): boolean {
    return this.threads.length > 0;
  }

  /**
   * Serve a network on each of `addresses` (one or a list) inside `netnsPath`, on
   * every thread (all or none). Rejects with the bind error (code EADDRINUSE,
   * EADDRNOTAVAIL when an address is not on br0 yet, ENOENT when the namespace does
   * not exist), or when the threads are not running.
   */
  async serve(networkId: string, netnsPath: string, address: string | readonly string[]): Promise<void> {
    const addresses = typeof address === 'string' ? [address] : [...address];
    const threads = this.threads;
    if (threads.length === 0) throw new Error(`could not serve DNS for network ${networkId}: the DNS threads are not running`);
    const results = await Promise.allSettled(threads.map((t) => t.serve(networkId, netnsPath, addresses)));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) {
      await Promise.all(threads.map((t) => t.unserve(networkId)));
      throw failed.reason;
    }
  }

  /** Stop serving a network. Idempotent. */
  async unserve(networkId: string): Promise<void> {
    await Promise.all(this.threads.map((t) => t.unserve(networkId)));
  }

  /** Replace the records; resolves when every thread has applied them (or has exited). */
  async update(snapshot: DnsSnapshot): Promise<void> {
    const version = ++this.version;
    await Promise.all(this.threads.map((t) => t.update(version, snapshot)));
  }

  /** Close every socket and end the threads (terminated after 1 s at most). Idempotent. */
  stop(): Promise<void> {
    const threads = this.threads;
    if (threads.length === 0) return this.closing ?? Promise.resolve();
    this.closing ??= Promise.all(threads.map((t) => t.stop())).then(() => undefined);
    return this.closing;
  }
}

/** One worker thread and the requests waiting on it. */
class Thread {
  readonly ready: Promise<void>;
  private readonly worker: Worker;
  private exited = false;
  private applied = 0;
  private readonly appliedWaiters: Array<{ version: number; resolve: () => void }> = [];
  private readonly pending = new Map<string, { resolve: () => void; reject: (err: Error) => void; addresses: string[]; netnsPath: string }>();
  private readonly unserving = new Map<string, Array<() => void>>();
  private nextStats = 1;
  private readonly statsWaiters = new Map<number, () => void>();
  private stopping: Promise<void> | undefined;

  constructor(
    private readonly cfg: WorkerConfig,
    private readonly o: DnsWorkerOptions,
    private readonly onStats: (queries: QueryCount[]) => void,
    onExit: () => void,
  ) {
    const worker = new Worker(new URL('./dns-worker.js', import.meta.url), { workerData: cfg, execArgv: [] });
    this.worker = worker;
    this.ready = new Promise<void>((resolve, reject) => {
      let started = false;
      worker.on('message', (m: FromWorker) => {
        if (m.type === 'ready') {
          started = true;
          resolve();
        } else {
          this.onMessage(m);
        }
      });
      worker.on('error', (err) => {
        if (!started) reject(err);
        else this.o.log.error({ err, thread: cfg.index }, 'DNS worker crashed');
      });
      worker.on('exit', (code) => {
        this.exited = true;
        if (!started) reject(new Error(`DNS worker exited (code ${code}) before starting`));
        for (const w of this.appliedWaiters.splice(0)) w.resolve();
        for (const [id, p] of this.pending) p.reject(new Error(`DNS worker exited before serving network ${id}`));
        this.pending.clear();
        for (const done of [...this.unserving.values()].flat()) done();
        this.unserving.clear();
        for (const done of this.statsWaiters.values()) done();
        this.statsWaiters.clear();
        onExit();
      });
    });
    // a start failure is reported through DnsWorker.start(); never unhandled here
    this.ready.catch(() => undefined);
  }

  serve(networkId: string, netnsPath: string, addresses: string[]): Promise<void> {
    if (this.exited) return Promise.reject(new Error(`DNS worker exited before serving network ${networkId}`));
    return new Promise((resolve, reject) => {
      this.pending.set(networkId, { resolve, reject, addresses, netnsPath });
      this.post({ type: 'serve', networkId, netnsPath, addresses });
    });
  }

  unserve(networkId: string): Promise<void> {
    if (this.exited) return Promise.resolve();
    return new Promise((resolve) => {
      const waiters = this.unserving.get(networkId);
      if (waiters) waiters.push(resolve);
      else this.unserving.set(networkId, [resolve]);
      this.post({ type: 'unserve', networkId });
    });
  }

  update(version: number, snapshot: DnsSnapshot): Promise<void> {
    if (this.exited) return Promise.resolve();
    this.post({ type: 'snapshot', version, snapshot });
    return new Promise((resolve) => this.appliedWaiters.push({ version, resolve }));
  }

  /** Resolves when the thread sent its counts, or after `timeoutMs`, or at once when it exited. */
  askStats(timeoutMs: number): Promise<void> {
    if (this.exited) return Promise.resolve();
    const id = this.nextStats++;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.statsWaiters.delete(id);
        resolve();
      }, timeoutMs);
      this.statsWaiters.set(id, () => {
        clearTimeout(timer);
        resolve();
      });
      this.post({ type: 'stats', id });
    });
  }

  /** Ask the thread to close its sockets and end; terminated after STOP_GRACE_MS. */
  stop(): Promise<void> {
    if (this.exited) return Promise.resolve();
    this.stopping ??= new Promise<void>((resolve) => {
      const timer = setTimeout(() => void this.worker.terminate(), STOP_GRACE_MS);
      this.worker.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
      this.post({ type: 'close' });
    });
    return this.stopping;
  }

  /** End the thread now (its sockets close with it). */
  end(): void {
    if (!this.exited) void this.worker.terminate();
  }

  private onMessage(m: FromWorker): void {
    switch (m.type) {
      case 'ready':
        break;
      case 'serving':
        this.pending.get(m.networkId)?.resolve();
        this.pending.delete(m.networkId);
        break;
      case 'failed': {
        const p = m.networkId === undefined ? undefined : this.pending.get(m.networkId);
        const where = p ? ` on ${p.addresses.map((a) => `${a}:${this.cfg.port}`).join(', ')} in ${p.netnsPath}` : '';
        const err = Object.assign(new Error(`could not serve DNS${where}: ${m.message}`), { code: m.code });
        if (p && m.networkId !== undefined) {
          this.pending.delete(m.networkId);
          p.reject(err);
        } else {
          this.o.log.error({ err, thread: this.cfg.index }, 'DNS worker failed');
        }
        break;
      }
      case 'unserved':
        for (const done of this.unserving.get(m.networkId) ?? []) done();
        this.unserving.delete(m.networkId);
        break;
      case 'applied':
        this.applied = Math.max(this.applied, m.version);
        for (let i = this.appliedWaiters.length - 1; i >= 0; i--) {
          const w = this.appliedWaiters[i];
          if (w && w.version <= this.applied) {
            this.appliedWaiters.splice(i, 1);
            w.resolve();
          }
        }
        break;
      case 'forward':
        void this.forward(m.id, Buffer.from(m.query.buffer, m.query.byteOffset, m.query.byteLength), m.transport);
        break;
      case 'stats':
        this.onStats(m.queries);
        this.statsWaiters.get(m.id)?.();
        this.statsWaiters.delete(m.id);
        break;
      case 'closed':
        break;
    }
  }

  private post(m: ToWorker): void {
    if (!this.exited) this.worker.postMessage(m);
  }

  private async forward(id: number, query: Buffer, transport: 'udp' | 'tcp'): Promise<void> {
    const reply = this.o.forwarder ? await this.o.forwarder.forward(query, transport) : undefined;
    this.post({ type: 'reply', id, reply: reply ?? null });
  }
}
