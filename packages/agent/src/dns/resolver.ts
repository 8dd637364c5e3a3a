/**
 * The embedded DNS resolver's policy, with no sockets: what to answer to one query
 * from one container, given the cluster's endpoint records. The servers (one Worker
 * per joined network, dns-worker.ts) run it on every query; tests run it directly.
 *
 * Visibility follows Docker's embedded DNS: a container sees the names and aliases of
 * every container on every network *it* is attached to, on any host, and nothing
 * from other networks. The querying container is found by its endpoint (the network
 * the query arrived on + its source address) -> its container id -> every network
 * that container has an endpoint on. A source address with no record yet (a container
 * whose record is still on its way) sees only the network the query arrived on.
 *
 * Names: `name` and `name.<network name>` (case-insensitive, trailing dot optional),
 * for names and aliases alike. The internal domain, answered here and never forwarded:
 * every single-label name, every name under a known network's name, every name or
 * alias of any container, and the reverse names of the networks' subnets. Unknown
 * internal names get NXDOMAIN; a known name asked for another type (AAAA, MX…) gets
 * an empty NOERROR, so resolvers do not conclude that the name does not exist.
 * Everything else is "forward" (the host's upstream resolvers answer it).
 */
import dnsPacket, { type Answer, type DecodedPacket, type OptAnswer, type Packet, type Question } from 'dns-packet';
import { parseCidr, parseIpv4, type EndpointRecord } from '@vxnet/common';
import { encodedLength } from './wire.js';

/** What the servers need of the cluster view; posted to the workers, so plain data. */
export interface DnsSnapshot {
  networks: Array<{ id: string; name: string; subnet: string }>;
  endpoints: Array<Pick<EndpointRecord, 'networkId' | 'name' | 'aliases' | 'ip' | 'container'>>;
}

/** Who asked: the network the query arrived on and the query's source address. */
export interface DnsClient {
  networkId: string;
  ip: string;
}

export type Transport = 'udp' | 'tcp';

export type Resolution =
  | { kind: 'answer'; response: Packet }
  | { kind: 'forward' };

export interface ResolverOptions {
  /** TTL of internal answers, seconds. Short: a removed container must stop resolving soon in client caches too. */
  ttl?: number;
  /**
   * The next value of round-robin counter `bucket` (0 … ROTATION_BUCKETS − 1; a name
   * rotates on the counter of its hash). Default: counters of this resolver. The DNS
   * threads share theirs, so that consecutive queries for a name rotate whichever
   * thread answers them.
   */
  rotation?: (bucket: number) => number;
}

/**
 * Round-robin counters, one per bucket of name hashes: consecutive queries for one
 * name rotate its addresses even when queries for other names come in between
 * (unless the two names share a bucket).
 */
export const ROTATION_BUCKETS = 1024;

/** FNV-1a of the name, folded into the round-robin buckets. */
function rotationBucket(name: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193);
  return (h >>> 0) % ROTATION_BUCKETS;
}

const VISIBLE_CACHE_MAX = 65_536;

/** RFC 1035 UDP limit without EDNS. */
export const UDP_PLAIN_LIMIT = 512;
/**
 * Largest UDP answer we send to an EDNS client, whatever it advertises: the DNS
 * flag day 2020 value, which avoids IP fragmentation on any sane path (our overlay
 * MTU is 1450).
 */
export const UDP_EDNS_LIMIT = 1232;

const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 } as const;
export type Rcode = keyof typeof RCODE;

const OPCODE_MASK = 0x7800;
const FLAG_RD = dnsPacket.RECURSION_DESIRED;
const FLAG_CD = dnsPacket.CHECKING_DISABLED;
const FLAG_AA = dnsPacket.AUTHORITATIVE_ANSWER;
const FLAG_RA = dnsPacket.RECURSION_AVAILABLE;
const FLAG_TC = dnsPacket.TRUNCATED_RESPONSE;

interface NetIndex {
  id: string;
  /** lower-case network name */
  name: string;
  /** the network's name as created, for PTR targets */
  displayName: string;
  /** `.${name}` */
  suffix: string;
  network: number;
  mask: number;
  /** lower-case name or alias -> addresses, sorted */
  names: Map<string, string[]>;
  /** address -> PTR targets (`name.<network name>`) */
  ptr: Map<string, string[]>;
}

/** Lower-case, without the trailing dot. */
export function canonicalName(name: string): string {
  const n = name.endsWith('.') ? name.slice(0, -1) : name;
  return n.toLowerCase();
}

/** `d.c.b.a.in-addr.arpa` -> `a.b.c.d`; undefined for anything else. */
export function ptrToIp(name: string): string | undefined {
  if (!name.endsWith('.in-addr.arpa')) return undefined;
  const labels = name.slice(0, -'.in-addr.arpa'.length).split('.');
  if (labels.length !== 4) return undefined;
  const ip = labels.reverse().join('.');
  return parseIpv4(ip) === undefined ? undefined : ip;
}

/**
 * An index of one snapshot (never changed after construction), round-robin counters
 * and a memo of each client's visible networks. Build a new one for every snapshot
 * (linear in the records); `resolve` is then map lookups only.
 */
export class DnsResolver {
  private readonly nets = new Map<string, NetIndex>();
  /** `${networkId} ${ip}` -> container id */
  private readonly clients = new Map<string, string>();
  /** container id -> ids of the networks it has endpoints on */
  private readonly containerNets = new Map<string, string[]>();
  /** every name and alias of every container, lower-case: internal even where invisible */
  private readonly allNames = new Set<string>();
  /** `${networkId} ${ip}` of a client -> its visible networks (memo of visibleNetworks) */
  private readonly visible = new Map<string, NetIndex[]>();
  private readonly ttl: number;
  private readonly nextRotation: (bucket: number) => number;

  constructor(snapshot: DnsSnapshot, opts: ResolverOptions = {}) {
    this.ttl = opts.ttl ?? 5;
    const counters = new Uint32Array(ROTATION_BUCKETS);
    this.nextRotation = opts.rotation ?? ((bucket) => {
      const n = counters[bucket] as number;
      counters[bucket] = n + 1;
      return n;
    });
    for (const n of snapshot.networks) {
      let network = 0;
      let mask = 0xffffffff;
      try {
        const c = parseCidr(n.subnet);
        network = c.network;
        mask = c.prefixLength === 0 ? 0 : (0xffffffff << (32 - c.prefixLength)) >>> 0;
      } catch {
        // a network spec without a usable subnet: no reverse zone for it
      }
      const name = n.name.toLowerCase();
      this.nets.set(n.id, { id: n.id, name, displayName: n.name, suffix: `.${name}`, network, mask, names: new Map(), ptr: new Map() });
    }
    for (const e of snapshot.endpoints) {
      const net = this.nets.get(e.networkId);
      if (!net) continue;
      this.clients.set(`${e.networkId} ${e.ip}`, e.container);
      const nets = this.containerNets.get(e.container);
      if (!nets) this.containerNets.set(e.container, [e.networkId]);
      else if (!nets.includes(e.networkId)) nets.push(e.networkId);
      const ptr: string[] = [];
      for (const raw of [e.name, ...e.aliases]) {
        // no name yet: a Docker endpoint until dockerd's events tell the agent its container's
        if (raw === '') continue;
        const name = raw.toLowerCase();
        this.allNames.add(name);
        const ips = net.names.get(name);
        if (!ips) net.names.set(name, [e.ip]);
        else if (!ips.includes(e.ip)) ips.push(e.ip);
        ptr.push(`${raw}.${net.displayName}`);
      }
      // the container's own name first: that is what `nslookup IP` should print
      const prev = net.ptr.get(e.ip);
      net.ptr.set(e.ip, prev ? [...prev, ...ptr] : ptr);
    }
    for (const net of this.nets.values()) for (const ips of net.names.values()) ips.sort(compareIp);
  }

  /** Networks whose names the client sees: those of its container, or the arrival network. */
  private visibleNetworks(client: DnsClient): NetIndex[] {
    const key = `${client.networkId} ${client.ip}`;
    let nets = this.visible.get(key);
    if (nets) return nets;
    nets = this.computeVisible(key, client);
    // bounded: source addresses are chosen by whoever sends the packets
    if (this.visible.size >= VISIBLE_CACHE_MAX) this.visible.clear();
    this.visible.set(key, nets);
    return nets;
  }

  private computeVisible(key: string, client: DnsClient): NetIndex[] {
    const container = this.clients.get(key);
    const ids = container !== undefined ? this.containerNets.get(container) ?? [client.networkId] : [client.networkId];
    const out: NetIndex[] = [];
    for (const id of ids) {
      const net = this.nets.get(id);
      if (net) out.push(net);
    }
    return out;
  }

  /**
   * Answer `query` from `client`, or say it must be forwarded. Never throws for any
   * decoded query. UDP answers larger than the client's limit (512 bytes, or its EDNS
   * size capped at UDP_EDNS_LIMIT) come back with TC set and no records, so that the
   * client retries over TCP, where the full answer is given.
   */
  resolve(query: DecodedPacket | Packet, client: DnsClient, transport: Transport): Resolution {
    const flags = query.flags ?? 0;
    const questions = query.questions ?? [];
    const q = questions[0];
    if (query.type === 'response') return { kind: 'answer', response: reply(query, 'FORMERR', []) };
    if ((flags & OPCODE_MASK) !== 0) return { kind: 'answer', response: reply(query, 'NOTIMP', []) };
    if (!q || questions.length !== 1) return { kind: 'answer', response: reply(query, 'FORMERR', []) };
    if (q.class !== undefined && q.class !== 'IN' && q.class !== 'ANY') return { kind: 'forward' };

    const name = canonicalName(q.name);
    const nets = this.visibleNetworks(client);
    const found = name.endsWith('.in-addr.arpa') ? this.lookupPtr(name, nets) : this.lookupName(name, nets);
    if (found === 'forward') return { kind: 'forward' };

    let answers: Answer[] = [];
    if (found !== undefined) {
      if (found.type === 'A' && (q.type === 'A' || (q.type as string) === 'ANY')) {
        const ips = found.data;
        const start = ips.length > 1 ? this.nextRotation(rotationBucket(name)) % ips.length : 0;
        answers = new Array<Answer>(ips.length);
        for (let i = 0; i < ips.length; i++) {
          answers[i] = { type: 'A', class: 'IN', name: q.name, ttl: this.ttl, data: ips[(start + i) % ips.length] as string };
        }
      } else if (found.type === 'PTR' && (q.type === 'PTR' || (q.type as string) === 'ANY')) {
        answers = found.data.map((target) => ({ type: 'PTR', class: 'IN', name: q.name, ttl: this.ttl, data: target }));
      }
    }
    const response = reply(query, found === undefined ? 'NXDOMAIN' : 'NOERROR', answers, true);
    const limit = transport === 'tcp' ? 65535 : udpLimit(query);
    if (answers.length > 0 && encodedLength(response) > limit) {
      response.answers = [];
      response.flags = (response.flags ?? 0) | FLAG_TC;
    }
    return { kind: 'answer', response };
  }

  /** A record set, undefined for an internal name that does not exist (here), 'forward' otherwise. */
  private lookupName(name: string, nets: NetIndex[]): { type: 'A'; data: string[] } | undefined | 'forward' {
    let ips: string[] | undefined;
    for (const net of nets) {
      const hit = net.names.get(name);
      if (hit) ips = ips ? union(ips, hit) : hit;
    }
    if (!ips) {
      for (const net of nets) {
        if (!name.endsWith(net.suffix)) continue;
        const hit = net.names.get(name.slice(0, -net.suffix.length));
        if (hit) ips = ips ? union(ips, hit) : hit;
      }
    }
    if (ips) return { type: 'A', data: ips };
    if (!name.includes('.') || this.allNames.has(name)) return undefined;
    for (const net of this.nets.values()) if (name.endsWith(net.suffix) || name === net.name) return undefined;
    return 'forward';
  }

  private lookupPtr(name: string, nets: NetIndex[]): { type: 'PTR'; data: string[] } | undefined | 'forward' {
    const ip = ptrToIp(name);
    if (ip === undefined) return 'forward';
    let targets: string[] | undefined;
    for (const net of nets) {
      const hit = net.ptr.get(ip);
      if (hit) targets = targets ? [...targets, ...hit] : hit;
    }
    if (targets) return { type: 'PTR', data: targets };
    const n = parseIpv4(ip) as number;
    for (const net of this.nets.values()) if (net.mask !== 0xffffffff && ((n & net.mask) >>> 0) === net.network) return undefined;
    return 'forward';
  }
}

/** The client's UDP size: 512, or its EDNS payload size within [512, UDP_EDNS_LIMIT]. */
export function udpLimit(query: Packet): number {
  const opt = query.additionals?.find((a): a is OptAnswer => a.type === 'OPT');
  if (!opt) return UDP_PLAIN_LIMIT;
  return Math.max(UDP_PLAIN_LIMIT, Math.min(opt.udpPayloadSize, UDP_EDNS_LIMIT));
}

/**
 * A response to `query` with `rcode` and `answers`: same id and question, RD and CD
 * copied, RA set (we recurse through the upstreams), AA for internal answers, and an
 * OPT record when the query had one (RFC 6891 6.1.1).
 */
export function reply(query: Packet, rcode: Rcode, answers: Answer[], authoritative = false): Packet {
  const flags = ((query.flags ?? 0) & (FLAG_RD | FLAG_CD | OPCODE_MASK)) | FLAG_RA | (authoritative ? FLAG_AA : 0) | RCODE[rcode];
  const hasOpt = query.additionals?.some((a) => a.type === 'OPT') ?? false;
  const questions: Question[] = (query.questions ?? []).slice(0, 1);
  return {
    type: 'response',
    id: query.id ?? 0,
    flags,
    questions,
    answers,
    authorities: [],
    additionals: hasOpt ? [{ type: 'OPT', name: '.', udpPayloadSize: UDP_EDNS_LIMIT, extendedRcode: 0, ednsVersion: 0, flags: 0, flag_do: false, options: [] }] : [],
  };
}

function union(a: string[], b: string[]): string[] {
  const out = [...a];
  for (const x of b) if (!out.includes(x)) out.push(x);
  return out.sort(compareIp);
}

function compareIp(a: string, b: string): number {
  return (parseIpv4(a) ?? 0) - (parseIpv4(b) ?? 0);
}
