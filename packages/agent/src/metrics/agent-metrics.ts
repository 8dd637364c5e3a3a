/**
 * The agent's Prometheus series (`vxnet_agent_…`), on the registry of
 * `@vxnet/common/metrics`.
 *
 * Two kinds, on purpose:
 * - state (peers and endpoints per network, hosts alive, lease expiry, DNS records,
 *   store up) is computed in `collect()` at scrape time from the agent's own state,
 *   read through `AgentMetricsSource`: nothing is kept in sync by hand, so it cannot
 *   drift (Weave's `Collect` pattern);
 * - events (data-plane applies and failures, reconcile fixes, watch events and
 *   resyncs, lease renewals, DNS queries) are counted where they happen, through
 *   `AgentMetricsSink`, which the Agent takes as an option (a no-op without one).
 *
 * Labels: `network` is the network's name (as `vxnet net ls` shows it; bounded by the
 * number of networks), never a subnet, an address or an endpoint id.
 */
import { Counter, Gauge, Histogram, type DaemonMetrics } from '@vxnet/common/metrics';

/** What a reconcile repaired, one label value each (`vxnet_agent_reconcile_fixes_total{kind}`). */
export type ReconcileFixKind = 'peer' | 'endpoint' | 'sandbox' | 'namespace' | 'uplink' | 'exposure' | 'firewall';

/** Where the agent reports events; every method is cheap and never throws. */
export interface AgentMetricsSink {
  /** One data-plane apply (a batch of peer routes/neighbours/FDB entries) succeeded, in seconds. */
  dataplaneApplied(seconds: number): void;
  /** One data-plane apply threw. */
  dataplaneFailed(): void;
  /** A reconcile (or drift check) changed `n` things of `kind` in the kernel. */
  reconcileFixed(kind: ReconcileFixKind, n: number): void;
  /** `n` watch events of `type` were delivered. */
  watchEvents(type: 'put' | 'delete', n: number): void;
  /** A watch lost its place (compaction, reconnect) and the agent re-listed and reconciled. */
  watchResynced(): void;
}

export const NO_METRICS: AgentMetricsSink = {
  dataplaneApplied: () => undefined,
  dataplaneFailed: () => undefined,
  reconcileFixed: () => undefined,
  watchEvents: () => undefined,
  watchResynced: () => undefined,
};

/** DNS queries answered, by who answered and the answer's rcode. */
export interface DnsQueryCount {
  kind: 'internal' | 'forwarded';
  rcode: string;
  count: number;
}

/** The agent's state as the scrape reads it. Every call is synchronous and cheap except dnsQueries and storeUp. */
export interface AgentMetricsSource {
  /** Per joined network (by name): peers programmed in the kernel, local endpoints. */
  networks(): Array<{ network: string; peers: number; endpoints: number }>;
  /** Hosts whose liveness key is in the store, this one included. */
  hostsAlive(): number;
  /** This host's subnet leases, by network name, expiry in ms since the epoch. */
  leases(): Array<{ network: string; expiresAtMs: number }>;
  /** Endpoint records the DNS answers from (every network, every host). */
  dnsRecords(): number;
  /** Queries answered so far (monotonic counts); resolves the last known counts when the DNS worker does not answer in time. */
  dnsQueries(): Promise<DnsQueryCount[]>;
  /** Upstream attempts that got no answer so far (monotonic). */
  dnsUpstreamFailures(): number;
  /** Whether the store answers now (a read, bounded by a short timeout). */
  storeUp(): Promise<boolean>;
}

export class AgentMetrics implements AgentMetricsSink {
  private readonly apply: Histogram;
  private readonly failures: Counter;
  private readonly fixes: Counter<'kind'>;
  private readonly events: Counter<'type'>;
  private readonly resyncs: Counter;
  private readonly renewals: Counter<'result'>;

  constructor(m: DaemonMetrics, source: AgentMetricsSource) {
    const p = m.prefix;
    const registers = [m.registry];
    this.apply = new Histogram({
      name: `${p}dataplane_apply_seconds`, help: 'Time to apply one batch of peer changes to the kernel (routes, neighbours, FDB entries)',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1], registers,
    });
    this.failures = new Counter({ name: `${p}dataplane_failures_total`, help: 'Data-plane applies that failed', registers });
    this.fixes = new Counter({ name: `${p}reconcile_fixes_total`, help: 'Kernel state a reconcile or drift check repaired, by kind', labelNames: ['kind'], registers });
    this.events = new Counter({ name: `${p}store_watch_events_total`, help: 'Store watch events delivered, by type', labelNames: ['type'], registers });
    this.resyncs = new Counter({ name: `${p}store_watch_resyncs_total`, help: 'Watch gaps after which the agent re-listed and reconciled', registers });
    this.renewals = new Counter({ name: `${p}subnet_lease_renewals_total`, help: 'Subnet lease renewals, by result', labelNames: ['result'], registers });
    for (const kind of ['peer', 'endpoint', 'sandbox', 'namespace', 'uplink', 'exposure', 'firewall'] as const) this.fixes.inc({ kind }, 0);
    for (const type of ['put', 'delete'] as const) this.events.inc({ type }, 0);
    for (const result of ['ok', 'error'] as const) this.renewals.inc({ result }, 0);

    // ---- computed at scrape time ---------------------------------------------
    new Gauge({
      name: `${p}peers`, help: 'Peers programmed in the kernel (one route, neighbour and FDB entry each), per network', labelNames: ['network'], registers,
      collect() {
        this.reset();
        for (const n of source.networks()) this.set({ network: n.network }, n.peers);
      },
    });
    new Gauge({
      name: `${p}endpoints`, help: 'Endpoints on this host, per network', labelNames: ['network'], registers,
      collect() {
        this.reset();
        for (const n of source.networks()) this.set({ network: n.network }, n.endpoints);
      },
    });
    new Gauge({ name: `${p}hosts_alive`, help: 'Hosts whose liveness lease is in the store, this one included', registers, collect() {
      this.set(source.hostsAlive());
    } });
    new Gauge({
      name: `${p}subnet_lease_expiry_timestamp_seconds`, help: "When this host's subnet lease of a network expires unless renewed, seconds since the epoch",
      labelNames: ['network'], registers,
      collect() {
        this.reset();
        for (const l of source.leases()) this.set({ network: l.network }, l.expiresAtMs / 1000);
      },
    });
    new Gauge({ name: `${p}store_up`, help: 'Whether the store answered a read at the last scrape (1) or not (0)', registers, async collect() {
      this.set((await source.storeUp()) ? 1 : 0);
    } });
    new Gauge({ name: `${p}dns_records`, help: 'Endpoint records the embedded DNS answers from', registers, collect() {
      this.set(source.dnsRecords());
    } });
    new Counter({
      name: `${p}dns_queries_total`, help: 'DNS queries answered, by who answered (internal names, or forwarded upstream) and response code',
      labelNames: ['kind', 'rcode'], registers,
      async collect() {
        const counts = await source.dnsQueries();
        this.reset();
        for (const kind of ['internal', 'forwarded'] as const) this.inc({ kind, rcode: 'NOERROR' }, 0);
        for (const c of counts) this.inc({ kind: c.kind, rcode: c.rcode }, c.count);
      },
    });
    new Counter({ name: `${p}dns_upstream_failures_total`, help: 'Attempts to forward a DNS query to an upstream that got no answer', registers, collect() {
      this.reset();
      this.inc(source.dnsUpstreamFailures());
    } });
  }

  dataplaneApplied(seconds: number): void {
    this.apply.observe(seconds);
  }

  dataplaneFailed(): void {
    this.failures.inc();
  }

  reconcileFixed(kind: ReconcileFixKind, n: number): void {
    if (n > 0) this.fixes.inc({ kind }, n);
  }

  watchEvents(type: 'put' | 'delete', n: number): void {
    if (n > 0) this.events.inc({ type }, n);
  }

  watchResynced(): void {
    this.resyncs.inc();
  }

  /** A renewal round: `renewed` leases rewritten, or it failed. */
  leaseRenewal(result: 'ok' | 'error', renewed = 1): void {
    if (renewed > 0) this.renewals.inc({ result }, renewed);
  }
}
