/**
 * The agent's DNS worker, seen from the main thread: one Worker (dns-worker.ts) that
 * serves every joined network on UDP and TCP port 53 of its addresses, each socket
 * bound inside that network's namespace. The main thread posts it snapshots of the
 * records and answers its forwarded queries through the Forwarder, from the host
 * namespace (the network namespaces have no route to the upstreams).
 */
import { Worker } from 'node:worker_threads';
import type { Logger } from '@vxnet/common';
import type { Forwarder } from './forwarder.js';
import type { FromWorker, QueryCount, ToWorker, WorkerConfig } from './protocol.js';
import type { DnsSnapshot } from './resolver.js';

export interface DnsWorkerOptions {
  /** Default 53. */
  port?: number;
  /** TTL of internal answers, seconds. Default 5. */
  ttl?: number;
  /** Where non-internal queries go; without one they get SERVFAIL. */
  forwarder: Forwarder | undefined;
  log: Logger;
}

const STOP_GRACE_MS = 1000;

export class DnsWorker {
  private worker: Worker | undefined;
  private version = 0;
  private applied = 0;
  private readonly appliedWaiters: Array<{ version: number; resolve: () => void }> = [];
  private readonly pending = new Map<string, { resolve: () => void; reject: (err: Error) => void; addresses: string[]; netnsPath: string }>();
  private readonly unserving = new Map<string, () => void>();
  private closing: Promise<void> | undefined;
  private starting: Promise<void> | undefined;
  private nextStats = 1;
  private readonly statsWaiters = new Map<number, (queries: QueryCount[]) => void>();
  /** The last counts the worker sent: what a scrape gets when the worker is busy or gone. */
  private lastQueries: QueryCount[] = [];

  constructor(private readonly o: DnsWorkerOptions) {}

  /** Start the worker (once) with `snapshot` as its first records. */
  start(snapshot: DnsSnapshot): Promise<void> {
    this.starting ??= new Promise<void>((resolve, reject) => {
      const cfg: WorkerConfig = { port: this.o.port ?? 53, ttl: this.o.ttl ?? 5, maxForwards: 4096 };
      const worker = new Worker(new URL('./dns-worker.js', import.meta.url), { workerData: cfg, execArgv: [] });
      this.worker = worker;
      this.update(snapshot);
      let started = false;
      worker.on('message', (m: FromWorker) => this.onMessage(m, () => {
        started = true;
        resolve();
      }));
      worker.on('error', (err) => {
        if (!started) reject(err);
        else this.o.log.error({ err }, 'DNS worker crashed');
      });
      worker.on('exit', (code) => {
        if (this.worker === worker) this.worker = undefined;
        if (!started) reject(new Error(`DNS worker exited (code ${code}) before starting`));
        for (const w of this.appliedWaiters.splice(0)) w.resolve();
        for (const [id, p] of this.pending) p.reject(new Error(`DNS worker exited before serving network ${id}`));
        this.pending.clear();
        for (const done of this.unserving.values()) done();
        this.unserving.clear();
      });
    });
    return this.starting;
  }

  /**
   * Queries answered so far, by kind and rcode (monotonic while the worker lives).
   * Asks the worker; resolves the last counts it sent when it does not answer within
   * `timeoutMs` or does not run. Never rejects.
   */
  queryCounts(timeoutMs = 500): Promise<QueryCount[]> {
    if (!this.worker) return Promise.resolve(this.lastQueries);
    const id = this.nextStats++;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.statsWaiters.delete(id);
        resolve(this.lastQueries);
      }, timeoutMs);
      this.statsWaiters.set(id, (queries) => {
        clearTimeout(timer);
        resolve(queries);
      });
      this.post({ type: 'stats', id });
    });
  }

  /** True while the worker runs. */
  get running(): boolean {
    return this.worker !== undefined;
  }

  /**
   * Serve a network on each of `addresses` (one or a list) inside `netnsPath` (all
   * or none). Rejects with the bind error (code EADDRINUSE, EADDRNOTAVAIL when an
   * address is not on br0 yet, ENOENT when the namespace does not exist).
   */
  serve(networkId: string, netnsPath: string, address: string | readonly string[]): Promise<void> {
    const addresses = typeof address === 'string' ? [address] : [...address];
    return new Promise((resolve, reject) => {
      this.pending.set(networkId, { resolve, reject, addresses, netnsPath });
      this.post({ type: 'serve', networkId, netnsPath, addresses });
    });
  }

  /** Stop serving a network. Idempotent. */
  unserve(networkId: string): Promise<void> {
    if (!this.worker) return Promise.resolve();
    return new Promise((resolve) => {
      this.unserving.set(networkId, resolve);
      this.post({ type: 'unserve', networkId });
    });
  }

  /** Replace the records; resolves when the worker has applied them (or has exited). */
  update(snapshot: DnsSnapshot): Promise<void> {
    const version = ++this.version;
    if (!this.worker) return Promise.resolve();
    this.post({ type: 'snapshot', version, snapshot });
    return new Promise((resolve) => this.appliedWaiters.push({ version, resolve }));
  }

  /** Close every socket and end the worker (terminated after 1 s at most). Idempotent. */
  stop(): Promise<void> {
    const w = this.worker;
    if (!w) return this.closing ?? Promise.resolve();
    this.closing ??= new Promise<void>((resolve) => {
      const timer = setTimeout(() => void w.terminate(), STOP_GRACE_MS);
      w.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
      this.post({ type: 'close' });
    });
    return this.closing;
  }

  private onMessage(m: FromWorker, ready: () => void): void {
    switch (m.type) {
      case 'ready':
        ready();
        break;
      case 'serving':
        this.pending.get(m.networkId)?.resolve();
        this.pending.delete(m.networkId);
        break;
      case 'failed': {
        const p = m.networkId === undefined ? undefined : this.pending.get(m.networkId);
        const where = p ? ` on ${p.addresses.map((a) => `${a}:${this.o.port ?? 53}`).join(', ')} in ${p.netnsPath}` : '';
        const err = Object.assign(new Error(`could not serve DNS${where}: ${m.message}`), { code: m.code });
        if (p && m.networkId !== undefined) {
          this.pending.delete(m.networkId);
          p.reject(err);
        } else {
          this.o.log.error({ err }, 'DNS worker failed');
        }
        break;
      }
      case 'unserved':
        this.unserving.get(m.networkId)?.();
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
        this.lastQueries = m.queries;
        this.statsWaiters.get(m.id)?.(m.queries);
        this.statsWaiters.delete(m.id);
        break;
      case 'closed':
        break;
    }
  }

  private post(m: ToWorker): void {
    this.worker?.postMessage(m);
  }

  private async forward(id: number, query: Buffer, transport: 'udp' | 'tcp'): Promise<void> {
    const reply = this.o.forwarder ? await this.o.forwarder.forward(query, transport) : undefined;
    this.post({ type: 'reply', id, reply: reply ?? null });
  }
}
