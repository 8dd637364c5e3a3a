/**
 * The agent's embedded DNS: the DNS worker threads (DnsWorker) answering on every
 * joined network's gateway, fed one snapshot of the cluster's endpoint records, with
 * one Forwarder for other names.
 *
 * Record changes from the store watch are coalesced to one snapshot per turn of the
 * event loop (setImmediate) and posted to every worker: a deleted container stops
 * resolving within milliseconds of the watch event.
 */
import type { EndpointRecord, Logger, NetworkSpec } from '@vxnet/common';
import { netnsPath } from '@vxnet/netns';
import { DnsWorker } from './dns-server.js';
import { Forwarder } from './forwarder.js';
import type { QueryCount } from './protocol.js';
import type { DnsSnapshot } from './resolver.js';
import type { Upstream } from './upstreams.js';

export interface DnsServiceOptions {
  upstreams: Upstream[];
  /** Default 53. */
  port?: number;
  /** TTL of internal answers, seconds. Default 5. */
  ttl?: number;
  /** Per upstream attempt, ms. Default 2000. */
  forwardTimeoutMs?: number;
  /** DNS worker threads; default defaultDnsThreads() (see DnsWorkerOptions.threads). */
  threads?: number;
  log: Logger;
}

/** What the agent needs of its DNS; the agent runs without one when none is given. */
export interface AgentDns {
  /**
   * Serve DNS for a joined network on `addresses` (its gateway, and the DNS address
   * VXNET_DNS_ADDRESS) inside `netns` (a name under /run/netns). Idempotent: a
   * running server on the same namespace and addresses is kept; other addresses (a
   * new subnet) restart it. Never throws: a server that cannot start is logged and
   * tried again at the next ensure.
   */
  ensure(networkId: string, netns: string, addresses: string[]): Promise<void>;
  /** Stop the network's server. Idempotent. */
  remove(networkId: string): Promise<void>;
  /** The agent's views changed; the maps are read (not kept) on the next turn. */
  update(networks: ReadonlyMap<string, NetworkSpec>, records: ReadonlyMap<string, EndpointRecord>): void;
  /** Stop every server and the forwarder. Idempotent. */
  close(): Promise<void>;
}

/** What the metrics scrape reads of the DNS (see metrics/agent-metrics.ts). */
export interface DnsStats {
  /** Queries answered so far by kind and rcode; never rejects (the last known counts when the worker is slow). */
  queryCounts(): Promise<QueryCount[]>;
  /** Upstream attempts without an answer so far. */
  readonly upstreamFailures: number;
}

export function snapshotOf(networks: ReadonlyMap<string, NetworkSpec>, records: ReadonlyMap<string, EndpointRecord>): DnsSnapshot {
  return {
    networks: [...networks.values()].map((n) => ({ id: n.id, name: n.name, subnet: n.subnet })),
    endpoints: [...records.values()].map((e) => ({ networkId: e.networkId, name: e.name, aliases: e.aliases, ip: e.ip, container: e.container })),
  };
}

export class DnsService implements AgentDns, DnsStats {
  readonly forwarder: Forwarder;
  private readonly worker: DnsWorker;
  /** networks served: where */
  private readonly servers = new Map<string, { netnsPath: string; addresses: string }>();
  /** per network: ensure/remove in call order */
  private readonly chains = new Map<string, Promise<void>>();
  private snapshot: DnsSnapshot = { networks: [], endpoints: [] };
  private source: { networks: ReadonlyMap<string, NetworkSpec>; records: ReadonlyMap<string, EndpointRecord> } | undefined;
  private scheduled: NodeJS.Immediate | undefined;
  private closed = false;

  constructor(private readonly o: DnsServiceOptions) {
    this.forwarder = new Forwarder({ upstreams: o.upstreams, timeoutMs: o.forwardTimeoutMs, log: o.log });
    this.worker = new DnsWorker({ port: o.port, ttl: o.ttl, threads: o.threads, forwarder: this.forwarder, log: o.log });
    if (o.upstreams.length === 0) o.log.warn('no DNS upstreams (dnsUpstreams, --dns-upstream, /etc/resolv.conf): external names will get SERVFAIL');
  }

  queryCounts(): Promise<QueryCount[]> {
    return this.worker.queryCounts();
  }

  get upstreamFailures(): number {
    return this.forwarder.upstreamFailures;
  }

  ensure(networkId: string, netns: string, addresses: string[]): Promise<void> {
    return this.chain(networkId, async () => {
      if (this.closed) return;
      const path = netnsPath(netns);
      const key = addresses.join(',');
      const cur = this.servers.get(networkId);
      if (cur && this.worker.running && cur.netnsPath === path && cur.addresses === key) return;
      if (cur) await this.worker.unserve(networkId);
      this.servers.delete(networkId);
      try {
        if (!this.worker.running) await this.worker.start(this.snapshot);
        await this.worker.serve(networkId, path, addresses);
        this.servers.set(networkId, { netnsPath: path, addresses: key });
        this.o.log.info({ network: { id: networkId }, addresses }, 'DNS serving');
      } catch (err) {
        this.o.log.error({ err, network: { id: networkId } }, 'could not start DNS for network; retrying at the next join');
      }
    });
  }

  /** Whether DNS is being served for a network now (the last ensure succeeded). */
  serving(networkId: string): boolean {
    return this.worker.running && this.servers.has(networkId);
  }

  remove(networkId: string): Promise<void> {
    return this.chain(networkId, async () => {
      if (!this.servers.delete(networkId)) return;
      await this.worker.unserve(networkId);
    });
  }

  update(networks: ReadonlyMap<string, NetworkSpec>, records: ReadonlyMap<string, EndpointRecord>): void {
    this.source = { networks, records };
    this.scheduled ??= setImmediate(() => this.flush());
  }

  /** Build the snapshot now and post it to every server; resolves when all have applied it. */
  flush(): Promise<void> {
    if (this.scheduled) clearImmediate(this.scheduled);
    this.scheduled = undefined;
    if (this.source) this.snapshot = snapshotOf(this.source.networks, this.source.records);
    return this.worker.update(this.snapshot);
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.scheduled) clearImmediate(this.scheduled);
    this.scheduled = undefined;
    await Promise.all([...this.chains.values()]);
    await this.worker.stop();
    this.servers.clear();
    this.forwarder.close();
  }

  private chain(networkId: string, fn: () => Promise<void>): Promise<void> {
    const next = (this.chains.get(networkId) ?? Promise.resolve()).then(fn, fn);
    this.chains.set(networkId, next);
    void next.finally(() => {
      if (this.chains.get(networkId) === next) this.chains.delete(networkId);
    });
    return next;
  }
}
