/**
 * Networks: create (name, VNI and subnet claimed in one compare-and-put of the
 * allocations document, see common/src/keys.ts), resolve, inspect, remove.
 * Stateless: every call reads the store, so any number of controllers can serve.
 *
 * The claim is the commit point of a create, and its outcome can be unknown: with an
 * etcd cluster, a leader that dies after committing the claim but before answering
 * makes the client retry on another member, whose compare then fails against our own
 * claim (or the store stays unreachable and we get StoreUnavailable). A claim carries
 * the new network's random id, so reading the document back tells which happened:
 * our id is there, the create goes on; it is not, the claim did not land.
 */
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  StoreUnavailable, addressAt, parseCidr, subnetFromKey,
  type Allocation, type Allocations, type EndpointRecord, type HostAlive, type HostRecord, type Keys, type Logger, type NetworkSpec, type Store, type SubnetLease,
} from '@vxnet/common';
import {
  AllocationContention, EncryptionUnavailable, NetworkAmbiguous, NetworkHasEndpoints, NetworkNameTaken, NetworkNotFound, PoolExhausted, SubnetOverlap, VniInUse,
} from '../errors.js';
import type { CreateNetworkRequest, NetworkDetail } from '@vxnet/common/api';
import { allocate, validateCreateRequest, type HostRoute, type PoolConfig } from './allocate.js';

/** Retries of the allocations compare-and-put when other creates win the race. */
const MAX_ATTEMPTS = 100;
/** A claim older than this whose network record is missing was left by a crashed create. */
const STALE_CLAIM_MS = 30_000;

export class NetworkService {
  constructor(
    private readonly store: Store,
    private readonly k: Keys,
    private readonly pool: PoolConfig,
    private readonly log: Logger,
  ) {}

  /**
   * Create a network. Not idempotent: a second create with the same name fails with
   * NetworkNameTaken. Its subnet overlaps no other network, reserved or configured
   * range, nor any route of a host alive at the time of the call.
   */
  async create(req: CreateNetworkRequest): Promise<NetworkSpec> {
    const valid = validateCreateRequest(req);
    if (valid.encrypted) await this.checkEncryptionPossible(valid.name);
    const id = randomBytes(32).toString('hex');
    const routes = await this.liveHostRoutes();
    for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
      const { doc, modRevision } = await this.readAllocations();
      let picked: { subnet: string; vni: number };
      try {
        picked = allocate(doc.networks, valid, this.pool, routes);
      } catch (err) {
        if (!isAllocationConflict(err)) throw err;
        const cleaned = await this.withoutStaleClaims(doc);
        if (cleaned.networks.length === doc.networks.length) throw err;
        picked = allocate(cleaned.networks, valid, this.pool, routes);
        doc.networks = cleaned.networks;
      }
      const now = new Date().toISOString();
      const claim: Allocation = { id, name: valid.name, vni: picked.vni, subnet: picked.subnet, claimedAt: now };
      const landed = await this.claim(id, claim, doc, modRevision);
      if (!landed) {
        await sleep(Math.random() * Math.min(attempt, 10)); // jitter spreads racing controllers apart
        continue;
      }
      const spec: NetworkSpec = {
        id,
        name: valid.name,
        driver: valid.driver,
        subnet: picked.subnet,
        hostSubnetLength: valid.hostSubnetLength,
        vni: picked.vni,
        mtu: valid.mtu,
        internal: valid.internal,
        ...(valid.encrypted ? { encrypted: true } : {}),
        labels: valid.labels,
        options: valid.options,
        createdAt: now,
      };
      try {
        await this.store.put(this.k.network(id), JSON.stringify(spec));
      } catch (err) {
        // The put may have landed (an unknown outcome, as the claim's): only a record
        // that is surely absent lets the claim go. Otherwise the claim stays, and a
        // create that finds the name taken reclaims it after STALE_CLAIM_MS if the
        // record never appeared (withoutStaleClaims).
        const record = await this.store.get(this.k.network(id)).catch(() => 'unknown' as const);
        if (record === 'unknown') {
          this.log.error({ err, network: { id, name: spec.name } }, 'network record write failed with an unknown outcome; its claim stays until reclaimed');
          throw err;
        }
        if (record !== undefined) {
          this.log.info({ network: { id, name: spec.name, subnet: spec.subnet, vni: spec.vni }, attempt }, 'network created (its record write answered late)');
          return spec;
        }
        await this.releaseClaim(id).catch((e: unknown) => this.log.error({ err: e, network: { id } }, 'could not release allocation after failed create'));
        throw err;
      }
      this.log.info({ network: { id, name: spec.name, subnet: spec.subnet, vni: spec.vni }, attempt }, 'network created');
      return spec;
    }
    throw new AllocationContention(valid.name, String(MAX_ATTEMPTS));
  }

  /**
   * Compare-and-put the allocations document with `claim` added. True when our claim
   * is in the store afterwards, false when another write won the race; throws
   * StoreUnavailable when the store cannot say (the re-read failed too).
   */
  private async claim(id: string, claim: Allocation, doc: Allocations, modRevision: number): Promise<boolean> {
    const ours = (value: string | undefined) => value !== undefined && (JSON.parse(value) as Allocations).networks.some((a) => a.id === id);
    try {
      const res = await this.store.compareAndPut(this.k.allocations, JSON.stringify({ networks: [...doc.networks, claim] }), modRevision);
      if (res.ok) return true;
      if (ours(res.current?.value)) {
        this.log.info({ network: { id, name: claim.name } }, 'claim landed on an earlier try of the same request');
        return true;
      }
      return false;
    } catch (err) {
      if (!(err instanceof StoreUnavailable)) throw err;
      const kv = await this.store.get(this.k.allocations); // throws StoreUnavailable in turn when still unreachable
      if (ours(kv?.value)) {
        this.log.info({ network: { id, name: claim.name } }, 'claim landed although its write failed');
        return true;
      }
      // Not there, and it never will be: etcd serves a linearizable read only after its
      // leader has committed in its own term, which commits or drops every older entry.
      return false;
    }
  }

  /** Every network, sorted by name. */
  async list(): Promise<NetworkSpec[]> {
    const { items } = await this.store.list(this.k.networks);
    return items.map((kv) => JSON.parse(kv.value) as NetworkSpec).sort((a, b) => a.name.localeCompare(b.name));
  }

  /**
   * Find a network by name, full id or unique id prefix (as Docker does).
   * Throws NetworkNotFound or NetworkAmbiguous.
   */
  async resolve(ref: string): Promise<NetworkSpec> {
    const { doc } = await this.readAllocations();
    let entry = doc.networks.find((a) => a.name === ref || a.id === ref);
    if (!entry && /^[0-9a-f]{1,64}$/.test(ref)) {
      const matches = doc.networks.filter((a) => a.id.startsWith(ref));
      if (matches.length > 1) throw new NetworkAmbiguous(ref, matches.map((m) => m.name).join(', '));
      entry = matches[0];
    }
    const kv = entry && (await this.store.get(this.k.network(entry.id)));
    if (!kv) throw new NetworkNotFound(ref);
    return JSON.parse(kv.value) as NetworkSpec;
  }

  /** A network with, per host holding a lease on it, the subnet, gateway and endpoints. */
  async inspect(ref: string): Promise<NetworkDetail> {
    const network = await this.resolve(ref);
    const [leases, endpoints, alive] = await Promise.all([
      this.store.list(this.k.networkLeases(network.id)),
      this.store.list(this.k.networkEndpoints(network.id)),
      this.store.list(this.k.alive),
    ]);
    const aliveHosts = new Map(alive.items.map((kv) => [kv.key.slice(this.k.alive.length), parseAlive(kv.value)]));
    const eps = endpoints.items.map((kv) => JSON.parse(kv.value) as EndpointRecord);
    const hosts = leases.items.map((kv) => {
      const l = JSON.parse(kv.value) as SubnetLease;
      const subnet = subnetFromKey(kv.key.slice(this.k.networkLeases(network.id).length));
      return {
        host: l.host,
        subnet,
        gateway: addressAt(parseCidr(subnet), 1),
        underlayIp: l.underlayIp,
        vtepMac: l.vtepMac,
        alive: aliveHosts.has(l.host),
        // public parts only (HostWireGuard): which implementation encrypts this host's share
        ...(network.encrypted && aliveHosts.get(l.host)?.wireguard ? { encryption: aliveHosts.get(l.host)?.wireguard?.backend } : {}),
        expiresAt: l.expiresAt,
        endpoints: eps.filter((e) => e.host === l.host).sort((a, b) => a.name.localeCompare(b.name)),
      };
    });
    return { network, hosts: hosts.sort((a, b) => a.host.localeCompare(b.host)) };
  }

  /**
   * Remove a network: refused while it has endpoints unless `force`. Deletes the
   * record (agents tear down their part when they see it go), its leases and
   * endpoints, then releases its name, VNI and subnet.
   */
  async remove(ref: string, force: boolean): Promise<NetworkSpec> {
    const network = await this.resolve(ref);
    const endpoints = await this.store.list(this.k.networkEndpoints(network.id));
    if (endpoints.items.length > 0 && !force) {
      const names = endpoints.items.map((kv) => {
        const e = JSON.parse(kv.value) as EndpointRecord;
        return `${e.name} (${e.ip} on ${e.host})`;
      });
      throw new NetworkHasEndpoints(network.name, String(names.length), names.join(', '));
    }
    await this.store.delete(this.k.network(network.id));
    await this.store.deletePrefix(this.k.networkEndpoints(network.id));
    await this.store.deletePrefix(this.k.networkLeases(network.id));
    await this.releaseClaim(network.id);
    this.log.info({ network: { id: network.id, name: network.name }, force }, 'network removed');
    return network;
  }

  /**
   * The routes agents reported for hosts that are alive now (a key under alive/),
   * sorted by host and route. A dead host's routes are left out: the host may be gone
   * for good, and it reports again when it comes back. Entries that are not canonical
   * CIDRs (a record from an older or broken agent) are skipped with a warning.
   */
  private async liveHostRoutes(): Promise<HostRoute[]> {
    const [hosts, alive] = await Promise.all([this.store.list(this.k.hosts), this.store.list(this.k.alive)]);
    const live = new Set(alive.items.map((kv) => kv.key.slice(this.k.alive.length)));
    const routes: HostRoute[] = [];
    for (const kv of hosts.items) {
      const rec = JSON.parse(kv.value) as Partial<HostRecord>;
      if (rec.name === undefined || !live.has(rec.name)) continue;
      // records written before agents reported routes have none
      for (const text of Array.isArray(rec.routes) ? rec.routes : []) {
        try {
          routes.push({ host: rec.name, cidr: parseCidr(String(text), 'host route').text });
        } catch (err) {
          this.log.warn({ err, host: rec.name, route: { text } }, 'ignoring a host route that is not a CIDR');
        }
      }
    }
    return routes.sort((a, b) => a.host.localeCompare(b.host) || a.cidr.localeCompare(b.cidr));
  }

  /**
   * Refuse an encrypted network no live host could carry: hosts are alive and none
   * published a WireGuard identity. With no live host yet (a cluster being set up),
   * or some hosts able, it is allowed; a host without WireGuard refuses to join it
   * (the agent's VXNET_ENCRYPTION_UNAVAILABLE) and is never sent its traffic in plaintext.
   */
  private async checkEncryptionPossible(name: string): Promise<void> {
    const alive = (await this.store.list(this.k.alive)).items.map((kv) => ({ host: kv.key.slice(this.k.alive.length), rec: parseAlive(kv.value) }));
    if (alive.length === 0 || alive.some((a) => a.rec.wireguard !== undefined)) return;
    throw new EncryptionUnavailable(name, alive.map((a) => a.host).sort().join(', '));
  }

  private async readAllocations(): Promise<{ doc: Allocations; modRevision: number }> {
    const kv = await this.store.get(this.k.allocations);
    return kv ? { doc: JSON.parse(kv.value) as Allocations, modRevision: kv.modRevision } : { doc: { networks: [] }, modRevision: 0 };
  }

  /** Drop the claim of network `id` from the allocations document (CAS loop). Idempotent. */
  private async releaseClaim(id: string): Promise<void> {
    for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
      const { doc, modRevision } = await this.readAllocations();
      if (!doc.networks.some((a) => a.id === id)) return;
      const res = await this.store.compareAndPut(this.k.allocations, JSON.stringify({ networks: doc.networks.filter((a) => a.id !== id) }), modRevision);
      if (res.ok) return;
      await sleep(Math.random() * Math.min(attempt, 10));
    }
    throw new AllocationContention(id, String(MAX_ATTEMPTS));
  }

  /** The document without claims older than STALE_CLAIM_MS whose network record never appeared. */
  private async withoutStaleClaims(doc: Allocations): Promise<Allocations> {
    const cutoff = Date.now() - STALE_CLAIM_MS;
    const old = doc.networks.filter((a) => Date.parse(a.claimedAt) < cutoff);
    const missing = new Set<string>();
    await Promise.all(old.map(async (a) => {
      if (!(await this.store.get(this.k.network(a.id)))) missing.add(a.id);
    }));
    if (missing.size > 0) this.log.warn({ claims: [...missing] }, 'reclaiming allocations of networks whose create never finished');
    return { networks: doc.networks.filter((a) => !missing.has(a.id)) };
  }
}

/** An alive record, or {} when it cannot be parsed (inspect still answers). */
function parseAlive(value: string): Partial<HostAlive> {
  try {
    return JSON.parse(value) as Partial<HostAlive>;
  } catch {
    return {};
  }
}

function isAllocationConflict(err: unknown): boolean {
  return err instanceof NetworkNameTaken || err instanceof VniInUse || err instanceof SubnetOverlap || err instanceof PoolExhausted;
}
