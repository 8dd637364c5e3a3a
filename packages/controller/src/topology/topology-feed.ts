/**
 * The topology page's data: one list + one watch of the store prefix, shared by every
 * page that is open, turned into TopoChanges (common/api/topology.ts) and kept as a
 * topology plus a bounded log of deltas.
 *
 * Resuming a page (EventSource sends `Last-Event-ID` = the last revision it applied):
 * when the log reaches back to that revision, the page gets exactly the deltas after
 * it; when it does not (this controller started after the page's revision, or the log
 * rolled over), the page gets a snapshot at the current revision and replaces what it
 * had. Either way it misses no change: the same rule the store watch itself follows
 * after a compaction (re-list and deliver the difference). A controller restart
 * therefore costs one snapshot per open page, not a lost change.
 *
 * Why the controller and not the page watches the store: browsers cannot reach etcd
 * (nor should they hold its client certificate), and N open pages cost one watch.
 */
import type { Keys, Logger, Store, WatchEvent } from '@vxnet/common';
import type { EndpointRecord, HostRecord, NetworkSpec, SubnetLease } from '@vxnet/common';
import { applyChanges, endpointKey, leaseKey, type TopoChange, type TopoDelta, type Topology } from '@vxnet/common/api';

/** Deltas kept for resuming pages; older revisions get a snapshot. */
export const DEFAULT_LOG_LENGTH = 1000;

export type FeedListener = (delta: TopoDelta) => void;

export class TopologyFeed {
  private topology: Topology | undefined;
  private readonly pendingAlive = new Set<string>();
  private readonly log: TopoDelta[] = [];
  /** The log holds every change after this revision. */
  private logStart = 0;
  private readonly listeners = new Set<FeedListener>();
  private starting: Promise<void> | undefined;
  private closeWatch: (() => Promise<void>) | undefined;

  constructor(
    private readonly store: Store,
    private readonly k: Keys,
    private readonly log_: Logger,
    private readonly logLength = DEFAULT_LOG_LENGTH,
  ) {}

  /** Lists and starts watching, once; later calls wait for the first. Throws what the store throws. */
  start(): Promise<void> {
    this.starting ??= this.doStart().catch((err: unknown) => {
      this.starting = undefined;
      throw err;
    });
    return this.starting;
  }

  private async doStart(): Promise<void> {
    const snap = await this.store.list(this.k.prefix);
    const t: Topology = { revision: 0, hosts: [], networks: [], leases: [], endpoints: [] };
    const changes = snap.items.map((kv) => this.toChange({ type: 'put', kv })).filter((c): c is TopoChange => c !== undefined);
    // liveness before records is handled by pendingAlive; order does not matter
    applyChanges(t, changes, snap.revision, this.pendingAlive);
    this.topology = t;
    this.logStart = snap.revision;
    const watch = await this.store.watch(this.k.prefix, snap, {
      onEvents: (events, revision) => this.onEvents(events, revision),
      onResync: (reason) => this.log_.info({ reason }, 'topology watch resynced'),
      onError: (err) => this.log_.warn({ err }, 'topology watch failed; retrying'),
    });
    this.closeWatch = () => watch.close();
    this.log_.debug({ revision: snap.revision, hosts: t.hosts.length, endpoints: t.endpoints.length }, 'topology feed started');
  }

  /** The current topology (a copy), after start(). */
  async snapshot(): Promise<Topology> {
    await this.start();
    return structuredClone(this.topology!);
  }

  /**
   * The deltas after `revision`, merged into one (or an empty list when there is
   * nothing newer), or undefined when the log does not reach back that far (or the
   * revision is from the future, e.g. another controller's newer view): send a snapshot.
   */
  since(revision: number): TopoDelta | null | undefined {
    const t = this.topology;
    if (t === undefined || revision < this.logStart || revision > t.revision) return undefined;
    const newer = this.log.filter((d) => d.revision > revision);
    if (newer.length === 0) return null;
    return { from: revision, revision: newer[newer.length - 1]!.revision, changes: newer.flatMap((d) => d.changes) };
  }

  /** Calls `listener` with every delta from now on. Returns the unsubscribe function. */
  subscribe(listener: FeedListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async close(): Promise<void> {
    this.listeners.clear();
    await this.closeWatch?.();
  }

  private onEvents(events: WatchEvent[], revision: number): void {
    const t = this.topology!;
    const changes = events.map((e) => this.toChange(e)).filter((c): c is TopoChange => c !== undefined);
    const from = t.revision;
    applyChanges(t, changes, revision, this.pendingAlive);
    if (changes.length === 0) return;
    const delta: TopoDelta = { from, revision: t.revision, changes };
    this.log.push(delta);
    if (this.log.length > this.logLength) this.logStart = this.log.shift()!.revision;
    for (const l of this.listeners) {
      try {
        l(delta);
      } catch (err) {
        this.log_.warn({ err }, 'topology listener failed');
      }
    }
  }

  /** The page's view of one store event; undefined for keys the page does not show. */
  private toChange(e: WatchEvent): TopoChange | undefined {
    const key = e.type === 'put' ? e.kv.key : e.key;
    const k = this.k;
    const gone = e.type === 'delete';
    const value = <T>(): T => JSON.parse((e as { kv: { value: string } }).kv.value) as T;
    try {
      if (key.startsWith(k.hosts)) {
        const name = key.slice(k.hosts.length);
        if (gone) return { kind: 'host', key: name, value: null };
        const h = value<HostRecord>();
        return { kind: 'host', key: name, value: { name: h.name, underlayIp: h.underlayIp, alive: false, agentVersion: h.agentVersion, lastSeen: h.lastSeen } };
      }
      if (key.startsWith(k.alive)) return { kind: 'alive', key: key.slice(k.alive.length), value: !gone };
      if (key.startsWith(k.networks)) {
        const id = key.slice(k.networks.length);
        if (gone) return { kind: 'network', key: id, value: null };
        const n = value<NetworkSpec>();
        return { kind: 'network', key: id, value: { id: n.id, name: n.name, vni: n.vni, subnet: n.subnet, internal: n.internal, encrypted: n.encrypted === true } };
      }
      if (key.startsWith(k.leases)) {
        if (gone) {
          const prev = e.prev ? (JSON.parse(e.prev.value) as SubnetLease) : undefined;
          const rest = key.slice(k.leases.length);
          return { kind: 'lease', key: prev ? leaseKey(prev) : rest.replace('_', '/'), value: null };
        }
        const l = value<SubnetLease>();
        return { kind: 'lease', key: leaseKey(l), value: { networkId: l.networkId, subnet: l.subnet, host: l.host, underlayIp: l.underlayIp, vtepMac: l.vtepMac, expiresAt: l.expiresAt } };
      }
      if (key.startsWith(k.endpoints)) {
        if (gone) return { kind: 'endpoint', key: key.slice(k.endpoints.length), value: null };
        const r = value<EndpointRecord>();
        return {
          kind: 'endpoint',
          key: endpointKey(r),
          value: { id: r.id, networkId: r.networkId, name: r.name, aliases: r.aliases, ip: r.ip, mac: r.mac, host: r.host, container: r.container, createdAt: r.createdAt },
        };
      }
    } catch (err) {
      this.log_.warn({ err, key }, 'unreadable record left out of the topology');
    }
    return undefined;
  }
}
