/**
 * Subnet leases: which subnet of each network this host holds.
 *
 * Policy (flannel's LocalManager, adapted): a host keeps its subnet across restarts.
 * When it joins a network it takes, in order: its lease record if the store still has
 * one; else the subnet it remembers (local state file, like flannel's subnet.env) if
 * nobody took it meanwhile; else a random free one, claimed with create-if-absent and
 * retried on lost races. A taken remembered subnet is never used again by this host.
 *
 * All of the host's subnet records are bound to one store lease with a long TTL (24 h
 * by default), so a host that dies keeps its subnets reserved for a while and gets
 * them back when it returns; liveness (seconds) is a separate lease (registration).
 * Records carry acquiredAt/renewedAt/expiresAt for `vxnet lease ls`; renewDue()
 * renews the store lease and rewrites them once expiry is within the margin.
 */
import {
  cidrSize, formatIpv4, parseCidr, writeJsonAtomic,
  type Keys, type Lease, type Logger, type NetworkSpec, type Store, type SubnetLease,
} from '@vxnet/common';
import { LeaseContention, SubnetExhausted } from '../errors.js';
import { readStateFile } from '../state/state-file.js';

export interface Clock {
  now(): number;
}

export interface LeaseManagerOptions {
  store: Store;
  keys: Keys;
  host: string;
  underlayIp: string;
  /** Time to live of subnet leases, seconds. */
  ttlSeconds: number;
  /** Renew when expiry is this close, seconds. */
  renewMarginSeconds: number;
  /** Remembers netId -> subnet across restarts and store loss: a JSON object, network id -> subnet CIDR. */
  stateFile: string;
  log: Logger;
  clock?: Clock;
  random?: () => number;
}

/** Attempts before giving up on a network whose free subnets keep being taken by others. */
const MAX_ATTEMPTS = 50;
/** Above this many host subnets in a network, free ones are found by random probing. */
const ENUMERATE_LIMIT = 65_536;

export class LeaseManager {
  private readonly o: LeaseManagerOptions;
  private readonly clock: Clock;
  private readonly random: () => number;
  private storeLease: Lease | undefined;
  private readonly held = new Map<string, { lease: SubnetLease; modRevision: number }>();
  private lostListeners: Array<(netIds: string[]) => void> = [];
  /** The state file's content, network id -> subnet; read once (load), then kept here and written through. */
  private remembered: Record<string, string> | undefined;

  constructor(opts: LeaseManagerOptions) {
    this.o = opts;
    this.clock = opts.clock ?? { now: () => Date.now() };
    this.random = opts.random ?? Math.random;
  }

  /**
   * Reads the remembered subnets (stateFile); absent is none. Throws
   * VXNET_STATE_UNREADABLE when the file exists but cannot be read or parsed: a
   * subnet forgotten that way could be leased twice. Called once at start, before
   * anything else; the other methods load on first use.
   */
  load(): void {
    this.remembered =
      readStateFile<Record<string, string>>(
        this.o.stateFile,
        (v) =>
          typeof v !== 'object' || v === null || Array.isArray(v)
            ? 'not a JSON object'
            : Object.values(v).some((s) => typeof s !== 'string')
              ? 'a subnet is not a string'
              : undefined,
        `To rebuild from scratch, remove ${this.o.stateFile} and start the agent: it takes its leases back from the store, and a lease that expired meanwhile may get another subnet.`,
      ) ?? {};
  }

  /** Called with the networks whose subnet records vanished because the store lease was lost. */
  onLost(listener: (netIds: string[]) => void): void {
    this.lostListeners.push(listener);
  }

  /** The subnet this host holds on a network, if any. */
  get(netId: string): SubnetLease | undefined {
    return this.held.get(netId)?.lease;
  }

  /** Every subnet lease this host holds. */
  all(): SubnetLease[] {
    return [...this.held.values()].map((h) => h.lease);
  }

  /**
   * Take over this host's lease records left in the store by an earlier run (any
   * network), binding them to this run's store lease. Returns them.
   */
  async adopt(): Promise<SubnetLease[]> {
    const { items } = await this.o.store.list(this.o.keys.leases);
    const adopted: SubnetLease[] = [];
    // nearly every record is another host's: those without this host's name as a JSON
    // string anywhere are skipped unparsed (10,000 leases: no 10,000 objects made at start)
    const quoted = JSON.stringify(this.o.host);
    for (const kv of items) {
      if (!kv.value.includes(quoted)) continue;
      const rec = JSON.parse(kv.value) as SubnetLease;
      if (rec.host !== this.o.host) continue;
      const lease = await this.ensureStoreLease();
      const next = this.record(rec.networkId, rec.subnet, rec.vtepMac, rec.acquiredAt);
      const res = await this.o.store.compareAndPut(kv.key, JSON.stringify(next), kv.modRevision, { lease: lease.id });
      if (!res.ok) continue; // changed under us (released or re-leased): not ours to adopt
      this.held.set(rec.networkId, { lease: next, modRevision: res.revision });
      adopted.push(next);
    }
    this.remember();
    return adopted;
  }

  /**
   * Lease a subnet of `net` for this host (idempotent: returns the held lease, updating
   * its VTEP MAC if it changed). Throws SubnetExhausted when every subnet is taken.
   */
  async acquire(net: NetworkSpec, vtepMac: string): Promise<SubnetLease> {
    const log = this.o.log.child({ network: { id: net.id, name: net.name } });
    const prefix = this.o.keys.networkLeases(net.id);
    const cidr = parseCidr(net.subnet);
    const count = 2 ** (net.hostSubnetLength - cidr.prefixLength);
    const remembered = this.readState()[net.id];
    for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
      const { items } = await this.o.store.list(prefix);
      const records = items.map((kv) => ({ kv, rec: JSON.parse(kv.value) as SubnetLease }));
      const lease = await this.ensureStoreLease();

      const mine = records.find((r) => r.rec.host === this.o.host);
      if (mine) {
        const acquiredAt = mine.rec.acquiredAt;
        const next = this.record(net.id, mine.rec.subnet, vtepMac, acquiredAt);
        const res = await this.o.store.compareAndPut(mine.kv.key, JSON.stringify(next), mine.kv.modRevision, { lease: lease.id });
        if (!res.ok) continue;
        return this.hold(next, res.revision);
      }

      const taken = new Set(records.map((r) => r.rec.subnet));
      if (taken.size >= count) throw new SubnetExhausted(net.name, this.o.host, String(count), String(net.hostSubnetLength), net.subnet);
      let subnet: string | undefined;
      if (remembered !== undefined && !taken.has(remembered) && this.inNetwork(remembered, net)) subnet = remembered;
      else subnet = this.pickFree(cidr.network, cidr.prefixLength, net.hostSubnetLength, taken);
      if (subnet === undefined) throw new SubnetExhausted(net.name, this.o.host, String(count), String(net.hostSubnetLength), net.subnet);
      if (remembered !== undefined && subnet !== remembered) log.warn({ remembered, subnet }, 'remembered subnet was taken meanwhile; leasing another');

      const next = this.record(net.id, subnet, vtepMac, new Date(this.clock.now()).toISOString());
      const res = await this.o.store.create(this.o.keys.lease(net.id, subnet), JSON.stringify(next), { lease: lease.id });
      if (!res.created) {
        log.debug({ subnet, attempt }, 'lost a race for a subnet; retrying');
        continue;
      }
      log.info({ subnet, attempt }, 'subnet leased');
      return this.hold(next, res.revision);
    }
    throw new LeaseContention(net.name, String(MAX_ATTEMPTS));
  }

  /** Give up this host's subnet on a network (record deleted). Idempotent. */
  async release(netId: string): Promise<void> {
    const h = this.held.get(netId);
    if (!h) return;
    await this.o.store.delete(this.o.keys.lease(netId, h.lease.subnet), h.modRevision);
    this.held.delete(netId);
    const state = this.readState();
    delete state[netId];
    this.writeState(state);
  }

  /** Forget a network that no longer exists (its records are gone with it). */
  forget(netId: string): void {
    this.held.delete(netId);
    const state = this.readState();
    delete state[netId];
    this.writeState(state);
  }

  /**
   * Renew when the earliest expiry is within the margin: keep the store lease alive
   * and rewrite every record's renewedAt/expiresAt. Returns how many were renewed.
   */
  async renewDue(): Promise<number> {
    const now = this.clock.now();
    const due = [...this.held.values()].some((h) => Date.parse(h.lease.expiresAt) - this.o.renewMarginSeconds * 1000 <= now);
    if (!due || !this.storeLease) return 0;
    await this.storeLease.keepAliveOnce();
    let n = 0;
    for (const [netId, h] of this.held) {
      const next = { ...h.lease, renewedAt: new Date(now).toISOString(), expiresAt: new Date(now + this.o.ttlSeconds * 1000).toISOString() };
      const res = await this.o.store.compareAndPut(this.o.keys.lease(netId, h.lease.subnet), JSON.stringify(next), h.modRevision, { lease: this.storeLease.id });
      if (res.ok) {
        this.held.set(netId, { lease: next, modRevision: res.revision });
        n++;
      } else {
        this.o.log.warn({ network: { id: netId }, subnet: h.lease.subnet }, 'lease record changed under us at renewal');
      }
    }
    return n;
  }

  /** Stop renewing without releasing anything: the subnets stay reserved until the TTL runs out. */
  stop(): void {
    this.storeLease?.release();
    this.storeLease = undefined;
  }

  private hold(lease: SubnetLease, modRevision: number): SubnetLease {
    this.held.set(lease.networkId, { lease, modRevision });
    this.remember();
    return lease;
  }

  private record(networkId: string, subnet: string, vtepMac: string, acquiredAt: string): SubnetLease {
    const now = this.clock.now();
    return {
      networkId,
      subnet,
      host: this.o.host,
      underlayIp: this.o.underlayIp,
      vtepMac,
      acquiredAt,
      renewedAt: new Date(now).toISOString(),
      expiresAt: new Date(now + this.o.ttlSeconds * 1000).toISOString(),
    };
  }

  private async ensureStoreLease(): Promise<Lease> {
    if (this.storeLease) return this.storeLease;
    const lease = await this.o.store.grantLease(this.o.ttlSeconds);
    this.storeLease = lease;
    lease.onLost((err) => {
      if (this.storeLease !== lease) return;
      this.storeLease = undefined;
      const lost = [...this.held.keys()];
      this.held.clear(); // the records went with the lease; acquire() will try the same subnets first
      this.o.log.error({ err, networks: lost }, 'subnet lease lost; re-leasing');
      for (const l of this.lostListeners) l(lost);
    });
    return lease;
  }

  private inNetwork(subnet: string, net: NetworkSpec): boolean {
    try {
      const s = parseCidr(subnet);
      const n = parseCidr(net.subnet);
      return s.prefixLength === net.hostSubnetLength && s.network >= n.network && s.network + cidrSize(s.prefixLength) <= n.network + cidrSize(n.prefixLength);
    } catch {
      return false;
    }
  }

  /** A random free host subnet, or undefined when none is free. */
  private pickFree(network: number, netLen: number, hostLen: number, taken: Set<string>): string | undefined {
    const count = 2 ** (hostLen - netLen);
    const size = cidrSize(hostLen);
    const at = (i: number) => `${formatIpv4(network + i * size)}/${hostLen}`;
    if (count <= ENUMERATE_LIMIT) {
      const free: string[] = [];
      for (let i = 0; i < count; i++) if (!taken.has(at(i))) free.push(at(i));
      return free[Math.floor(this.random() * free.length)];
    }
    for (let probe = 0; probe < 1000; probe++) {
      const s = at(Math.floor(this.random() * count));
      if (!taken.has(s)) return s;
    }
    const start = Math.floor(this.random() * count);
    for (let i = 0; i < count; i++) if (!taken.has(at((start + i) % count))) return at((start + i) % count);
    return undefined;
  }

  /** A copy of the remembered subnets. */
  private readState(): Record<string, string> {
    if (this.remembered === undefined) this.load();
    return { ...this.remembered };
  }

  private writeState(state: Record<string, string>): void {
    writeJsonAtomic(this.o.stateFile, state);
    this.remembered = state;
  }

  private remember(): void {
    const state = this.readState();
    for (const [netId, h] of this.held) state[netId] = h.lease.subnet;
    this.writeState(state);
  }
}
