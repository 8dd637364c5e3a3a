/**
 * Networks: create, list (whole or in pages), resolve, inspect, remove. Stateless:
 * every call reads the store, so any number of controllers can serve.
 *
 * A create claims the name, then the VNI and the CIDR (one key each, create-if-absent,
 * see claims.ts), then writes the network record: the record is the commit point, a
 * network exists once it is there. A failure before it releases what was claimed
 * (an undo list); a failure with an unknown outcome leaves the claims to be reclaimed
 * as stale (claims.ts) unless the record turns out to be there.
 *
 * Automatic VNIs and default-pool blocks are found from a cursor (cursors/vni,
 * cursors/subnet): the next candidate after the last one handed out, so a create tries
 * one key in the common case instead of reading every claim. The cursor is a hint: a
 * stale or lost one costs tries, never correctness. Past SCAN_AFTER taken candidates in a row (a dense region after the
 * cursor wrapped) a create reads every claim once and jumps to the first free one.
 */
import { randomBytes } from 'node:crypto';
import {
  addressAt, parseCidr, subnetFromKey,
  type Cidr, type EndpointRecord, type HostAlive, type KeyValue, type NameClaim, type HostRecord, type Keys, type Logger, type NetworkClaim, type NetworkSpec, type Store, type SubnetLease,
} from '@vxnet/common';
import {
  AllocationContention, EncryptionUnavailable, NetworkAmbiguous, NetworkHasEndpoints, NetworkNameTaken, NetworkNotFound, PoolExhausted, SubnetOverlap, VniInUse,
} from '../errors.js';
import type { CreateNetworkRequest, NetworkDetail } from '@vxnet/common/api';
import {
  PoolBlocks, VNI_AUTO_START, VNI_MAX, checkExplicitSubnet, freeVnis, nextAutoVni, validateCreateRequest,
  type HostRoute, type PoolConfig, type ValidRequest,
} from './allocate.js';
import { Claims, STALE_CLAIM_MS, parseClaim } from './claims.js';

/** Taken candidates in a row after which a create reads every claim instead of trying the next one. */
const SCAN_AFTER = 32;
/** Full reads of the claims before giving up to contention (each is followed by tries of what it found free). */
const MAX_SCANS = 10;
/** After a full read, a create picks at random among this many of the first free candidates. */
const SPREAD = 8;
/** Most networks one page of a list may ask for. */
export const MAX_PAGE = 1000;

/** One page of networks, sorted by name; `next` is the name to continue after, when more follow. */
export interface NetworkPage {
  networks: NetworkSpec[];
  next?: string;
}

export class NetworkService {
  private readonly claims: Claims;

  constructor(
    private readonly store: Store,
    private readonly k: Keys,
    private readonly pool: PoolConfig,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
  ) {
    this.claims = new Claims(store, k, log, now);
  }

  /**
   * Create a network. Not idempotent: a second create with the same name fails with
   * NetworkNameTaken. Its subnet overlaps no other network, reserved or configured
   * range, nor any route of a host alive at the time of the call.
   */
  async create(req: CreateNetworkRequest): Promise<NetworkSpec> {
    const valid = validateCreateRequest(req);
    if (valid.encrypted) await this.checkEncryptionPossible(valid.name);
    const routes = await this.liveHostRoutes();
    const explicit = valid.subnet;
    if (explicit) checkExplicitSubnet({ ...valid, subnet: explicit }, this.pool, routes);
    const blocks = explicit ? undefined : new PoolBlocks(this.pool, valid, routes);
    const started = this.now();
    const claim: NetworkClaim = { id: randomBytes(32).toString('hex'), name: valid.name, claimedAt: new Date(started).toISOString() };
    const undo: Array<() => Promise<void>> = [];
    const claimed = (key: string) => undo.push(() => this.claims.release(key, claim.id));
    // the cursors are read while the name is claimed: one round trip less
    const cursors = Promise.all([this.readCursor(this.k.vniCursor), this.readCursor(this.k.subnetCursor)]);
    cursors.catch(() => undefined); // awaited below; not unhandled if the name claim fails first
    try {
      const nameKey = this.k.networkName(valid.name);
      const name = await this.claims.claim(nameKey, claim, { settle: true });
      if (!name.ok) throw new NetworkNameTaken(valid.name, name.holder.id.slice(0, 12));
      claimed(nameKey);
      const [vniCursor, subnetCursor] = await cursors;
      // VNI and CIDR at once: each registers its own undo as soon as it holds its key
      const [vni, subnet] = await settleAll([
        this.claimVni(valid, claim, claimed, vniCursor.value ?? VNI_AUTO_START),
        explicit ? this.claimExplicitSubnet(valid.name, explicit, claim, claimed) : this.claimPoolBlock(valid.name, blocks!, claim, claimed, subnetCursor.value ?? 0),
      ]);
      // a create slower than half the stale grace period could have lost its claims to a reclaim
      if (this.now() - started > STALE_CLAIM_MS / 2) throw new AllocationContention(valid.name, `claiming took ${this.now() - started} ms`);
      const spec: NetworkSpec = {
        id: claim.id,
        name: valid.name,
        driver: valid.driver,
        subnet: subnet.text,
        hostSubnetLength: valid.hostSubnetLength,
        vni,
        mtu: valid.mtu,
        internal: valid.internal,
        ...(valid.encrypted ? { encrypted: true } : {}),
        labels: valid.labels,
        options: valid.options,
        createdAt: claim.claimedAt,
      };
      await this.writeRecord(spec);
      // after the record, never before: a copy must not show a network whose record may not exist
      await this.indexName(name.kv, claim, spec);
      // only a create that succeeded moves a cursor: a failed one leaves its candidates to the next
      await Promise.all([
        valid.vni === undefined ? this.writeCursor(this.k.vniCursor, nextAutoVni(vni), vniCursor.modRevision) : undefined,
        blocks ? this.writeCursor(this.k.subnetCursor, (blocks.indexOf(subnet) + 1) % blocks.count, subnetCursor.modRevision) : undefined,
      ]);
      this.log.info({ network: { id: spec.id, name: spec.name, subnet: spec.subnet, vni: spec.vni } }, 'network created');
      return spec;
    } catch (err) {
      if (!(err instanceof RecordOutcomeUnknown)) {
        for (const step of undo.reverse()) {
          await step().catch((e: unknown) => this.log.error({ err: e, network: { id: claim.id, name: claim.name } }, 'could not release a claim after a failed create; it is reclaimed once stale'));
        }
      }
      throw err instanceof RecordOutcomeUnknown ? err.cause : err;
    }
  }

  /**
   * Write the network record. Its outcome can be unknown (as a claim's): only a record
   * that is surely absent lets the claims go (the error is thrown as is); when the
   * store cannot say, RecordOutcomeUnknown keeps them (reclaimed once stale if the
   * record never appeared).
   */
  private async writeRecord(spec: NetworkSpec): Promise<void> {
    try {
      await this.store.put(this.k.network(spec.id), JSON.stringify(spec));
    } catch (err) {
      const record = await this.store.get(this.k.network(spec.id)).catch(() => 'unknown' as const);
      if (record === 'unknown') {
        this.log.error({ err, network: { id: spec.id, name: spec.name } }, 'network record write failed with an unknown outcome; its claims stay until reclaimed');
        throw new RecordOutcomeUnknown(err);
      }
      if (record !== undefined) {
        this.log.info({ network: { id: spec.id, name: spec.name } }, 'network record write answered late, but landed');
        return;
      }
      throw err;
    }
  }

  /**
   * Put the network into its name claim (compare on the claim's revision). A failure
   * is logged and left: pages and resolve then read the record instead.
   */
  private async indexName(kv: KeyValue, claim: NetworkClaim, spec: NetworkSpec): Promise<void> {
    const value: NameClaim = { ...claim, network: spec };
    const res = await this.store.compareAndPut(kv.key, JSON.stringify(value), kv.modRevision).catch((err: unknown) => err);
    if (res instanceof Error || !(res as { ok: boolean }).ok) this.log.warn({ err: res instanceof Error ? res : undefined, network: { id: spec.id, name: spec.name } }, 'could not put the network into its name claim; lists read its record instead');
  }

  /** Claim the requested VNI, or the next free one from the cursor. */
  private async claimVni(req: ValidRequest, claim: NetworkClaim, claimed: (key: string) => void, from: number): Promise<number> {
    if (req.vni !== undefined) {
      const res = await this.claims.claim(this.k.vni(req.vni), claim, { settle: true });
      if (!res.ok) throw new VniInUse(req.name, String(req.vni), res.holder.name);
      claimed(this.k.vni(req.vni));
      return req.vni;
    }
    const vni = await this.claimFirstFree({
      name: req.name,
      next: (n) => (n === undefined ? from : nextAutoVni(n)),
      claim: async (n) => (await this.claims.claim(this.k.vni(n), claim)).ok,
      free: async (last) => {
        const { items } = await this.store.list(this.k.vnis);
        return freeVnis(new Set(items.map((kv) => Number(kv.key.slice(this.k.vnis.length)))), last, SCAN_AFTER);
      },
      exhausted: () => new PoolExhausted(req.name, `no free VNI left in ${VNI_AUTO_START}-${VNI_MAX}`),
      what: 'VNIs',
    });
    claimed(this.k.vni(vni));
    return vni;
  }

  /** Claim the next usable block of the default pool from the cursor. */
  private async claimPoolBlock(name: string, blocks: PoolBlocks, claim: NetworkClaim, claimed: (key: string) => void, cursor: number): Promise<Cidr> {
    const from = cursor % blocks.count;
    const index = await this.claimFirstFree({
      name,
      // unusable blocks (reserved, excluded, routes) are skipped without the store
      next: (i) => {
        let n = i === undefined ? from : (i + 1) % blocks.count;
        for (let seen = 0; seen < blocks.count && !blocks.usable(blocks.at(n)); seen++) n = (n + 1) % blocks.count;
        return n;
      },
      claim: async (i) => blocks.usable(blocks.at(i)) && (await this.claims.claimSubnet(blocks.at(i), claim)).ok,
      free: async (last) => {
        const { items } = await this.store.list(this.k.subnetClaims);
        const taken = items.map((kv) => (JSON.parse(kv.value) as { subnet?: string }).subnet).filter((x): x is string => typeof x === 'string');
        return blocks.freeBlocks(taken, last, SCAN_AFTER);
      },
      exhausted: () => blocks.exhausted(name),
      what: 'blocks of the default pool',
    });
    const cidr = blocks.at(index);
    claimed(this.k.subnetClaim(cidr.network, cidr.prefixLength));
    return cidr;
  }

  /**
   * The search shared by automatic VNIs and pool blocks: try the candidates after the
   * cursor in order (the common case: the first one is free); past SCAN_AFTER lost
   * claims, read every claim once and try the free ones, each picked at random among the
   * first SPREAD left so that racing creates do not all go for the same one; read again
   * when they are all lost, up to MAX_SCANS times.
   */
  private async claimFirstFree(s: {
    name: string;
    next: (n: number | undefined) => number;
    claim: (n: number) => Promise<boolean>;
    free: (from: number) => Promise<number[]>;
    exhausted: () => Error;
    what: string;
  }): Promise<number> {
    let n = s.next(undefined);
    for (let tries = 0; tries < SCAN_AFTER; tries++, n = s.next(n)) {
      if (await s.claim(n)) return n;
    }
    for (let scans = 0; scans < MAX_SCANS; scans++) {
      const free = await s.free(n);
      if (free.length === 0) throw s.exhausted();
      while (free.length > 0) {
        const [pick] = free.splice(Math.floor(Math.random() * Math.min(SPREAD, free.length)), 1);
        n = pick!;
        if (await s.claim(n)) return n;
      }
    }
    throw new AllocationContention(s.name, `the free ${s.what} were taken by other creates ${MAX_SCANS} times in a row`);
  }

  private async claimExplicitSubnet(name: string, subnet: Cidr, claim: NetworkClaim, claimed: (key: string) => void): Promise<Cidr> {
    const res = await this.claims.claimSubnet(subnet, claim, { settle: true });
    if (!res.ok) throw new SubnetOverlap(name, subnet.text, `network "${res.holder.name}" (${holderSubnet(res.holder, res.key)})`);
    claimed(this.k.subnetClaim(subnet.network, subnet.prefixLength));
    return subnet;
  }

  /** A cursor's number (undefined when absent or not a number: it is only a hint) and its revision (0: absent). */
  private async readCursor(key: string): Promise<{ value: number | undefined; modRevision: number }> {
    const kv = await this.store.get(key);
    const n = kv === undefined ? NaN : Number(kv.value);
    return { value: Number.isSafeInteger(n) && n >= 0 ? n : undefined, modRevision: kv?.modRevision ?? 0 };
  }

  /**
   * Move a cursor on, unless another create moved it since we read it (compare on its
   * revision): of creates that raced from one cursor, the first to finish moves it, so
   * it never goes back to before a block another of them took. A failure costs the next
   * create some tries, not this one its network.
   */
  private async writeCursor(key: string, value: number, readRevision: number): Promise<void> {
    await this.store.compareAndPut(key, String(value), readRevision).catch((err: unknown) => this.log.warn({ err, key }, 'could not move the allocation cursor on'));
  }

  /** Every network, sorted by name (byte order, as pages are). */
  async list(): Promise<NetworkSpec[]> {
    const { items } = await this.store.list(this.k.networks);
    return items.map((kv) => JSON.parse(kv.value) as NetworkSpec).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  /**
   * At most `limit` networks (1 to MAX_PAGE) whose names sort after `after`, by name:
   * one range read of the name claims, which carry their networks. Each page is its own snapshot: a network created or removed
   * while a client pages may or may not show. A name whose record is not written yet
   * (a create in progress) is left out.
   */
  async page(limit: number, after?: string): Promise<NetworkPage> {
    const res = await this.store.list(this.k.networkNames, { limit, ...(after !== undefined ? { after: this.k.networkName(after) } : {}) });
    const found = await Promise.all(res.items.map((kv) => this.networkOfName(kv)));
    const networks = found.filter((n) => n !== undefined);
    const last = res.items.at(-1);
    return res.more && last ? { networks, next: last.key.slice(this.k.networkNames.length) } : { networks };
  }

  /**
   * The network of a name claim: the copy it carries, else (a claim from a migration, or
   * whose copy was not written) its record; undefined while the network is being created.
   */
  private async networkOfName(kv: KeyValue): Promise<NetworkSpec | undefined> {
    const claim = parseClaim(kv) as NameClaim | undefined;
    if (claim === undefined) return undefined;
    if (claim.network?.id === claim.id) return claim.network;
    const record = await this.store.get(this.k.network(claim.id));
    return record && (JSON.parse(record.value) as NetworkSpec);
  }

  /**
   * Find a network by name, full id or unique id prefix (as Docker does): the name
   * claim, else the records under the id prefix. Throws NetworkNotFound or NetworkAmbiguous.
   */
  async resolve(ref: string): Promise<NetworkSpec> {
    const byName = await this.store.get(this.k.networkName(ref));
    const named = byName && (await this.networkOfName(byName));
    if (named) return named;
    if (/^[0-9a-f]{1,64}$/.test(ref)) {
      const { items } = await this.store.list(this.k.network(ref), { limit: 10 });
      if (items.length > 1) throw new NetworkAmbiguous(ref, items.map((kv) => (JSON.parse(kv.value) as NetworkSpec).name).join(', '));
      if (items[0]) return JSON.parse(items[0].value) as NetworkSpec;
    }
    throw new NetworkNotFound(ref);
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
   * endpoints, then releases its name, VNI and subnet claims.
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
    // the record is gone: from here the claims are stale, and a failed release is reclaimed later
    await Promise.all([
      this.k.networkName(network.name), this.k.vni(network.vni), subnetClaimKey(this.k, network.subnet),
    ].map((key) => this.claims.release(key, network.id)));
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
}

/** An alive record, or {} when it cannot be parsed (inspect still answers). */
function parseAlive(value: string): Partial<HostAlive> {
  try {
    return JSON.parse(value) as Partial<HostAlive>;
  } catch {
    return {};
  }
}

/** The subnet a holder claimed (subnet claims carry it), else the key, for messages. */
function holderSubnet(holder: NetworkClaim, key: string): string {
  const subnet = (holder as { subnet?: unknown }).subnet;
  return typeof subnet === 'string' ? subnet : key;
}

function subnetClaimKey(k: Keys, subnet: string): string {
  const c = parseCidr(subnet);
  return k.subnetClaim(c.network, c.prefixLength);
}

/**
 * Wait for every promise (so each one's claim is in the undo list before unwinding),
 * then return the values or throw the first failure.
 */
async function settleAll<A, B>(ps: [Promise<A>, Promise<B>]): Promise<[A, B]> {
  const [a, b] = await Promise.allSettled(ps);
  if (a.status === 'rejected') throw a.reason;
  if (b.status === 'rejected') throw b.reason;
  return [a.value, b.value];
}

/** The record write of a create ended with an unknown outcome: keep the claims. */
class RecordOutcomeUnknown extends Error {
  constructor(override readonly cause: unknown) {
    super('network record write outcome unknown');
  }
}
