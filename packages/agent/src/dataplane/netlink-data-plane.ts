/**
 * DataPlane over rtnetlink (npm `netlink`), with no `ip`/`bridge` processes.
 *
 * Every namespace is programmed through its own netlink socket, opened inside
 * it once (inNetns) and cached: a netlink socket acts in the namespace it was
 * created in, whatever thread later uses it. The cache is keyed by the
 * namespace's identity (nsfs inode), so a namespace deleted and re-created
 * under the same name by someone else gets a fresh socket.
 */
import { closeSync, readFileSync, writeFileSync } from 'node:fs';

import { ifla, type RtNetlinkSocket } from 'netlink';
import { formatIpv4, parseCidr, type Logger } from '@vxnet/common';

import { deleteNetns, ensureNetns, inNetns, netnsId, netnsPath, openNetns } from '@vxnet/netns';
import type { DataPlane, EndpointSpec, NetworkPlaneSpec, Peer } from './data-plane.js';
import { DataPlaneConflict, DataPlaneFailed, NetnsNotFound } from '../errors.js';
import { BatchWriter, RtnlBatchSocket } from './rtnl-batch.js';
import { cidrToU32, ipv4ToU32, macToBuffer, routeMetric, writeFdb, writeNeighbour, writeRoute, writeRouteDelete } from './peer-messages.js';
import {
  AF_BRIDGE,
  AF_INET,
  CREATE_EXCL,
  CREATE_REPLACE,
  REQUEST_TIMEOUT_MS,
  RTNH_F_ONLINK,
  RT_TABLE_MAIN,
  closeRtnl,
  ensureOnlyAddress,
  getLinkByName,
  ignoreMissing,
  ipv4Buffer,
  ipv4Text,
  linkInfo,
  linkInfoData,
  linkKind,
  macBuffer,
  macText,
  openRtnl,
  rejected,
  setLinkUp,
  streamToBuffer,
  vethPeerData,
  type LinkMessage,
} from './rtnl.js';

/** Device names inside every network namespace. */
export const BRIDGE_NAME = 'br0';
export const VXLAN_NAME = 'vxlan0';
/** IANA VXLAN port. */
export const VXLAN_PORT = 4789;

const T = { timeout: REQUEST_TIMEOUT_MS };

export interface NetlinkDataPlaneOptions {
  /**
   * The namespace the agent runs in (a name under /run/netns or a path), where
   * VXLAN sockets live and underlayDevice is looked up. Default: the calling
   * thread's namespace at construction. Tests pass a simulated host's namespace.
   */
  agentNetns?: string;
  /** Logger for repairs (drift fixed, devices recreated). */
  log?: Logger;
}

interface NsHandle {
  /** Identity of the namespace the socket was opened in (see netnsId). */
  id: string;
  sock: RtNetlinkSocket;
  /** Index of vxlan0, cached after ensureNetwork or the first lookup. */
  vxlanIndex?: number;
  /** Socket for ensurePeers/deletePeers, opened on first use. */
  batch?: RtnlBatchSocket;
}

/** A peer's addresses, validated and converted once. */
interface PeerBits {
  peer: Peer;
  network: number;
  dstLen: number;
  vtep: number;
  mac: Buffer;
  underlay: number;
}

function ipv4Number(text: string): number {
  const n = ipv4ToU32(text);
  if (n === undefined) throw new TypeError(`invalid IPv4 address "${text}"`);
  return n;
}

function peerBits(peer: Peer): PeerBits {
  const dst = cidrToU32(peer.subnet) ?? parseCidr(peer.subnet, 'peer subnet');
  return {
    peer,
    network: dst.network,
    dstLen: dst.prefixLength,
    vtep: ipv4Number(peer.vtepIp),
    mac: macToBuffer(peer.vtepMac) ?? macBuffer(peer.vtepMac),
    underlay: ipv4Number(peer.underlayIp),
  };
}

/** The entries of a peer batch, in message order: what each is, for error messages. */
const ENTRY_KINDS = ['route', 'neighbour', 'fdb', 'old fdb'] as const;
type EntryKind = (typeof ENTRY_KINDS)[number];
const ROUTE = 0;
const NEIGHBOUR = 1;
const FDB = 2;
const OLD_FDB = 3;

/** Message i of a batch is entry `kind` of peers[peer]: packed as peer * 4 + kind (a small-integer array, no objects). */
class EntryRefs {
  readonly packed: number[] = [];
  /** MACs of old-FDB deletes, by message index. */
  readonly oldMacs = new Map<number, string>();

  constructor(readonly peers: Peer[]) {}

  push(peer: number, kind: number): void {
    this.packed.push(peer * 4 + kind);
  }

  kind(i: number): EntryKind {
    return ENTRY_KINDS[this.packed[i]! & 3]!;
  }

  label(i: number): string {
    const p = this.peers[this.packed[i]! >> 2]!;
    switch (this.packed[i]! & 3) {
      case ROUTE:
        return `route ${p.subnet} via ${p.vtepIp}`;
      case NEIGHBOUR:
        return `neighbour ${p.vtepIp} lladdr ${p.vtepMac}`;
      case FDB:
        return `fdb ${p.vtepMac} dst ${p.underlayIp}`;
      default:
        return `fdb ${this.oldMacs.get(i) ?? '?'} (old MAC of ${p.vtepIp})`;
    }
  }
}

const NOT_FOUND = ['ENOENT', 'ESRCH', 'ENODEV', 'EADDRNOTAVAIL'];

/** How many refused entries an error message spells out. */
const FAILURES_SHOWN = 5;

/** u32 IFLA_LINK, which netlink 0.3.0 hands over as a raw (host-endian) Buffer. */
function linkAttrIndex(link: LinkMessage): number | undefined {
  const b = link.attrs.link;
  return b && b.length >= 4 ? b.readUInt32LE(0) : undefined;
}

/** Locally administered MAC for a bridge from its address: 02:42 + the four IPv4 bytes. */
function bridgeMac(gateway: string): Buffer {
  return Buffer.concat([Buffer.from([0x02, 0x42]), ipv4Buffer(gateway)]);
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export class NetlinkDataPlane implements DataPlane {
  private readonly agentSock: RtNetlinkSocket;
  private readonly handles = new Map<string, NsHandle>();
  private readonly log: Logger | undefined;
  private closed = false;

  constructor(opts: NetlinkDataPlaneOptions = {}) {
    this.agentSock = openRtnl(opts.agentNetns);
    this.log = opts.log;
  }

  async ensureNetwork(spec: NetworkPlaneSpec): Promise<{ vtepMac: string }> {
    const subnet = parseCidr(spec.hostSubnet, 'host subnet');
    if (!Number.isInteger(spec.vni) || spec.vni < 1 || spec.vni > 0xffffff) throw new TypeError(`invalid VNI ${spec.vni}`);
    if (!Number.isInteger(spec.mtu) || spec.mtu < 68 || spec.mtu > 65535) throw new TypeError(`invalid MTU ${spec.mtu}`);
    ipv4Buffer(spec.gateway);
    ipv4Buffer(spec.vtepIp);
    ipv4Buffer(spec.underlayIp);

    const what = `ensure network vni ${spec.vni}`;
    try {
      ensureNetns(spec.netns);
    } catch (err) {
      throw new DataPlaneFailed(what, spec.netns, `creating the namespace failed: ${message(err)}`, err);
    }
    const h = this.handle(spec.netns, what);
    try {
      // /proc/sys/net resolves against the opening thread's namespace, so a write
      // made inside inNetns sets the flag of this namespace only.
      inNetns(spec.netns, () => {
        const p = '/proc/sys/net/ipv4/ip_forward';
        if (readFileSync(p, 'utf8').trim() !== '1') writeFileSync(p, '1\n');
      });
      await this.ensureBridge(h.sock, spec, subnet.prefixLength);
      const vx = await this.ensureVxlan(h, spec);
      const vtepMac = macText(vx.attrs.address);
      if (!vtepMac) throw new Error(`${VXLAN_NAME} has no MAC address`);
      return { vtepMac };
    } catch (err) {
      if (err instanceof DataPlaneFailed) throw err;
      throw new DataPlaneFailed(what, spec.netns, message(err), err);
    }
  }

  /** Equivalent to: ip -n NS link add br0 address MAC mtu MTU up type bridge; ip -n NS addr replace GW/LEN dev br0 */
  private async ensureBridge(sock: RtNetlinkSocket, spec: NetworkPlaneSpec, prefixLength: number): Promise<void> {
    let br = await getLinkByName(sock, BRIDGE_NAME);
    if (br && linkKind(br) !== 'bridge') {
      this.log?.warn({ netns: spec.netns, device: BRIDGE_NAME, kind: linkKind(br) }, 'recreating incompatible device');
      await ignoreMissing(sock.delLink({ index: br.data.index }, {}, T));
      br = undefined;
    }
    if (!br) {
      // An explicit MAC keeps the bridge's address from following its lowest port's,
      // which would change the gateway's MAC under containers as endpoints come and go.
      await sock.newLink(
        { flags: { up: true }, change: { up: true } },
        { ifname: BRIDGE_NAME, mtu: spec.mtu, address: bridgeMac(spec.gateway), linkinfo: linkInfo('bridge') },
        { flags: CREATE_EXCL, ...T },
      );
      br = await getLinkByName(sock, BRIDGE_NAME);
      if (!br) throw new Error(`${BRIDGE_NAME} vanished after creation`);
    } else if (!br.data.flags?.up || br.attrs.mtu !== spec.mtu) {
      this.log?.info({ netns: spec.netns, device: BRIDGE_NAME, up: !!br.data.flags?.up, mtu: br.attrs.mtu }, 'repairing device');
      await setLinkUp(sock, br.data.index ?? 0, { mtu: spec.mtu });
    }
    await ensureOnlyAddress(sock, br.data.index ?? 0, spec.gateway, prefixLength);
  }

  /** Why an existing vxlan0 cannot be kept, or undefined when it is compatible. */
  private vxlanMismatch(vx: LinkMessage, spec: NetworkPlaneSpec, underlayIndex: number): string | undefined {
    if (linkKind(vx) !== 'vxlan') return `kind ${linkKind(vx)}, want vxlan`;
    const raw = linkInfoData(vx);
    const d = raw ? ifla.parseVxlan(raw) : {};
    const diffs: string[] = [];
    if (d.id !== spec.vni) diffs.push(`vni ${d.id}, want ${spec.vni}`);
    const port = d.port && d.port.length === 2 ? d.port.readUInt16BE(0) : undefined;
    if (port !== VXLAN_PORT) diffs.push(`dstport ${port}, want ${VXLAN_PORT}`);
    if (d.learning !== 0) diffs.push('learning on');
    if (ipv4Text(d.local) !== spec.underlayIp) diffs.push(`local ${ipv4Text(d.local)}, want ${spec.underlayIp}`);
    if (d.link !== underlayIndex) diffs.push(`dev index ${d.link}, want ${underlayIndex} (${spec.underlayDevice})`);
    // IFLA_LINK_NETNSID is reported only when the device's socket lives in another
    // namespace: without it the device was made inside and sends nowhere useful.
    if (vx.attrs.linkNetnsid === undefined) diffs.push('UDP socket not in the agent namespace');
    return diffs.length ? diffs.join('; ') : undefined;
  }

  /**
   * Equivalent to: ip link add vxlan0 netns NS mtu MTU up type vxlan id VNI dstport 4789 nolearning
   * local UNDERLAY_IP dev UNDERLAY_DEV; ip -n NS addr replace VTEP/32 dev vxlan0
   */
  private async ensureVxlan(h: NsHandle, spec: NetworkPlaneSpec): Promise<LinkMessage> {
    const underlay = await getLinkByName(this.agentSock, spec.underlayDevice);
    const underlayIndex = underlay?.data.index;
    if (underlayIndex === undefined) throw new Error(`underlay device ${spec.underlayDevice} not found in the agent namespace`);
    let vx = await getLinkByName(h.sock, VXLAN_NAME);
    const mismatch = vx && this.vxlanMismatch(vx, spec, underlayIndex);
    if (vx && mismatch) {
      this.log?.warn({ netns: spec.netns, device: VXLAN_NAME, mismatch }, 'recreating incompatible device');
      await ignoreMissing(h.sock.delLink({ index: vx.data.index }, {}, T));
      vx = undefined;
    }
    if (!vx) {
      // Created through the agent namespace's socket with IFLA_NET_NS_FD: the
      // device is born in NS (no name clash in the agent namespace, nothing left
      // there on a crash) while its UDP socket belongs to the agent namespace
      // (the kernel binds it in the requester's namespace), as with
      // `ip link add … ; ip link set … netns NS`.
      const data = ifla.formatVxlan({
        id: spec.vni,
        local: ipv4Buffer(spec.underlayIp),
        link: underlayIndex,
        port: Buffer.from([VXLAN_PORT >> 8, VXLAN_PORT & 0xff]),
        learning: 0,
      });
      const fd = openNetns(spec.netns);
      try {
        await this.agentSock.newLink(
          { flags: { up: true }, change: { up: true } },
          { ifname: VXLAN_NAME, mtu: spec.mtu, netNsFd: fd, linkinfo: linkInfo('vxlan', streamToBuffer(data)) },
          { flags: CREATE_EXCL, ...T },
        );
      } finally {
        closeSync(fd);
      }
      vx = await getLinkByName(h.sock, VXLAN_NAME);
      if (!vx) throw new Error(`${VXLAN_NAME} vanished after creation`);
    } else if (!vx.data.flags?.up || vx.attrs.mtu !== spec.mtu) {
      this.log?.info({ netns: spec.netns, device: VXLAN_NAME, up: !!vx.data.flags?.up, mtu: vx.attrs.mtu }, 'repairing device');
      await setLinkUp(h.sock, vx.data.index ?? 0, { mtu: spec.mtu });
    }
    h.vxlanIndex = vx.data.index;
    await ensureOnlyAddress(h.sock, vx.data.index ?? 0, spec.vtepIp, 32);
    return vx;
  }

  async deleteNetwork(netns: string): Promise<void> {
    const what = 'delete network';
    if (netnsId(netnsPath(netns)) === undefined) {
      this.dropHandle(netns);
      return;
    }
    try {
      // Explicit deletes make teardown synchronous: the namespace itself is freed
      // by a kernel worker later, and the container ends of veths and the VXLAN
      // socket in the agent namespace would linger until then.
      const h = this.handle(netns, what);
      for (const ifname of await this.listEndpoints(netns)) await this.deleteEndpoint(netns, ifname);
      const vx = await getLinkByName(h.sock, VXLAN_NAME);
      if (vx) await ignoreMissing(h.sock.delLink({ index: vx.data.index }, {}, T));
    } catch (err) {
      throw err instanceof DataPlaneFailed || err instanceof DataPlaneConflict ? err : new DataPlaneFailed(what, netns, message(err), err);
    }
    this.dropHandle(netns);
    try {
      deleteNetns(netns);
    } catch (err) {
      throw new DataPlaneFailed(what, netns, `removing the namespace failed: ${message(err)}`, err);
    }
  }

  async ensurePeer(netns: string, peer: Peer): Promise<void> {
    const what = `program peer ${peer.subnet}`;
    const h = this.handle(netns, what);
    const dst = parseCidr(peer.subnet, 'peer subnet');
    const network = ipv4Buffer(formatIpv4(dst.network));
    const vtep = ipv4Buffer(peer.vtepIp);
    const mac = macBuffer(peer.vtepMac);
    const underlay = ipv4Buffer(peer.underlayIp);
    try {
      const ifindex = await this.vxlanIndex(h, netns);
      // A peer whose VXLAN device was recreated comes back with a new MAC: the FDB
      // entry of the old one would otherwise stay behind, invisible to listPeers.
      const old = await this.neighborMac(h.sock, ifindex, vtep);
      if (old && !old.equals(mac)) {
        await ignoreMissing(h.sock.delNeighbor({ family: AF_BRIDGE, ifindex, flags: { self: true } }, { lladdr: old }, T));
      }
      await Promise.all([
        h.sock.newRoute(
          {
            family: AF_INET,
            dstLen: dst.prefixLength,
            table: RT_TABLE_MAIN,
            protocol: 'STATIC',
            scope: 'UNIVERSE',
            type: 'UNICAST',
            flags: { __unknown: RTNH_F_ONLINK },
          },
          { dst: network, gateway: vtep, oif: ifindex, priority: routeMetric(dst.network) },
          { flags: CREATE_REPLACE, ...T },
        ),
        h.sock.newNeighbor({ family: AF_INET, ifindex, state: { permanent: true } }, { dst: vtep, lladdr: mac }, { flags: CREATE_REPLACE, ...T }),
        h.sock.newNeighbor(
          { family: AF_BRIDGE, ifindex, state: { permanent: true }, flags: { self: true } },
          { lladdr: mac, dst: underlay },
          { flags: CREATE_REPLACE, ...T },
        ),
      ]);
    } catch (err) {
      throw new DataPlaneFailed(what, netns, message(err), err);
    }
  }

  async deletePeer(netns: string, peer: Peer): Promise<void> {
    const what = `delete peer ${peer.subnet}`;
    if (netnsId(netnsPath(netns)) === undefined) return;
    const h = this.handle(netns, what);
    const dst = parseCidr(peer.subnet, 'peer subnet');
    try {
      const vx = await getLinkByName(h.sock, VXLAN_NAME);
      if (!vx) return; // the entries went with the device
      const ifindex = vx.data.index ?? 0;
      h.vxlanIndex = ifindex;
      await Promise.all([
        ignoreMissing(
          h.sock.delRoute(
            { family: AF_INET, dstLen: dst.prefixLength, table: RT_TABLE_MAIN },
            { dst: ipv4Buffer(formatIpv4(dst.network)), gateway: ipv4Buffer(peer.vtepIp), oif: ifindex },
            T,
          ),
        ),
        ignoreMissing(h.sock.delNeighbor({ family: AF_INET, ifindex }, { dst: ipv4Buffer(peer.vtepIp) }, T)),
        ignoreMissing(h.sock.delNeighbor({ family: AF_BRIDGE, ifindex, flags: { self: true } }, { lladdr: macBuffer(peer.vtepMac) }, T)),
      ]);
    } catch (err) {
      throw new DataPlaneFailed(what, netns, message(err), err);
    }
  }

  async ensurePeers(netns: string, peers: Peer[]): Promise<void> {
    const what = `program ${peers.length} peers`;
    const h = this.handle(netns, what);
    const bits = peers.map(peerBits);
    if (bits.length === 0) return;
    try {
      const ifindex = await this.vxlanIndex(h, netns);
      // As in ensurePeer, a peer whose VTEP MAC changed leaves an FDB entry for
      // the old MAC: one neighbour dump finds them all.
      const oldMac = new Map<string, Buffer>();
      for (const n of await h.sock.getNeighbors({ family: AF_INET }, {}, T)) {
        const ip = n.data.ifindex === ifindex ? ipv4Text(n.attrs.dst) : undefined;
        if (ip && n.attrs.lladdr) oldMac.set(ip, n.attrs.lladdr);
      }
      const w = new BatchWriter(bits.length * 3 * 64);
      const refs = new EntryRefs(peers);
      for (let i = 0; i < bits.length; i++) {
        const b = bits[i]!;
        const old = oldMac.get(b.peer.vtepIp);
        if (old && !old.equals(b.mac)) {
          refs.oldMacs.set(w.count, macText(old) ?? '?');
          writeFdb(w, old, ifindex, undefined);
          refs.push(i, OLD_FDB);
        }
        writeRoute(w, b.network, b.dstLen, b.vtep, ifindex);
        writeNeighbour(w, b.vtep, ifindex, b.mac);
        writeFdb(w, b.mac, ifindex, b.underlay);
        refs.push(i, ROUTE);
        refs.push(i, NEIGHBOUR);
        refs.push(i, FDB);
      }
      await this.runBatch(h, netns, what, w, refs, (kind) => kind === 'old fdb');
    } catch (err) {
      if (err instanceof DataPlaneFailed) throw err;
      throw new DataPlaneFailed(what, netns, message(err), err);
    }
  }

  async deletePeers(netns: string, peers: Peer[]): Promise<void> {
    const what = `delete ${peers.length} peers`;
    const bits = peers.map(peerBits);
    if (bits.length === 0 || netnsId(netnsPath(netns)) === undefined) return;
    const h = this.handle(netns, what);
    try {
      const vx = await getLinkByName(h.sock, VXLAN_NAME);
      if (!vx) return; // the entries went with the device
      const ifindex = vx.data.index ?? 0;
      h.vxlanIndex = ifindex;
      const w = new BatchWriter(bits.length * 3 * 48);
      const refs = new EntryRefs(peers);
      for (let i = 0; i < bits.length; i++) {
        const b = bits[i]!;
        writeRouteDelete(w, b.network, b.dstLen, b.vtep, ifindex);
        writeNeighbour(w, b.vtep, ifindex, undefined);
        writeFdb(w, b.mac, ifindex, undefined);
        refs.push(i, ROUTE);
        refs.push(i, NEIGHBOUR);
        refs.push(i, FDB);
      }
      await this.runBatch(h, netns, what, w, refs, () => true);
    } catch (err) {
      if (err instanceof DataPlaneFailed) throw err;
      throw new DataPlaneFailed(what, netns, message(err), err);
    }
  }

  /**
   * Sends a batch; throws DataPlaneFailed naming the refused entries (all of
   * them in `cause`, an AggregateError of `Error('<entry>: Request rejected:
   * ECODE')`, the library's wording). Not-found answers to entries for which
   * `missingOk` holds are success. Entries are independent: the kernel applies
   * every one it accepts, whatever happens to the others.
   */
  private async runBatch(h: NsHandle, netns: string, what: string, w: BatchWriter, refs: EntryRefs, missingOk: (kind: EntryKind) => boolean): Promise<void> {
    h.batch ??= new RtnlBatchSocket(netns);
    const results = await h.batch.run(w);
    const refused: Error[] = [];
    results.forEach((code, i) => {
      if (code === undefined) return;
      if (!(missingOk(refs.kind(i)) && NOT_FOUND.includes(code))) refused.push(new Error(`${refs.label(i)}: Request rejected: ${code}`));
    });
    if (refused.length === 0) return;
    const shown = refused.slice(0, FAILURES_SHOWN).map((e) => e.message.replace(': Request rejected: ', ': '));
    const more = refused.length > FAILURES_SHOWN ? `; and ${refused.length - FAILURES_SHOWN} more` : '';
    const summary = `the kernel refused ${refused.length} of ${results.length} entries (the others are applied): ${shown.join('; ')}${more}`;
    throw new DataPlaneFailed(what, netns, summary, new AggregateError(refused, summary));
  }

  async listPeers(netns: string): Promise<Peer[]> {
    const what = 'list peers';
    const h = this.handle(netns, what);
    try {
      const vx = await getLinkByName(h.sock, VXLAN_NAME);
      if (!vx) return [];
      const ifindex = vx.data.index;
      const routes = await h.sock.getRoutes({ family: AF_INET }, {}, T);
      const neighbors = await h.sock.getNeighbors({ family: AF_INET }, {}, T);
      const fdb = await h.sock.getNeighbors({ family: AF_BRIDGE }, {}, T);
      const macByIp = new Map<string, string>();
      for (const n of neighbors) {
        if (n.data.ifindex !== ifindex || !n.data.state?.permanent) continue;
        const ip = ipv4Text(n.attrs.dst);
        const mac = macText(n.attrs.lladdr);
        if (ip && mac) macByIp.set(ip, mac);
      }
      const underlayByMac = new Map<string, string>();
      for (const f of fdb) {
        if (f.data.ifindex !== ifindex || !f.data.flags?.self) continue;
        const mac = macText(f.attrs.lladdr);
        const ip = ipv4Text(f.attrs.dst);
        if (mac && ip) underlayByMac.set(mac, ip);
      }
      const peers: Peer[] = [];
      for (const r of routes) {
        if (r.attrs.oif !== ifindex || (r.attrs.table ?? r.data.table) !== RT_TABLE_MAIN) continue;
        const vtepIp = ipv4Text(r.attrs.gateway);
        const dst = ipv4Text(r.attrs.dst);
        if (!vtepIp || !dst) continue;
        const vtepMac = macByIp.get(vtepIp) ?? '';
        peers.push({ subnet: `${dst}/${r.data.dstLen}`, vtepIp, vtepMac, underlayIp: underlayByMac.get(vtepMac) ?? '' });
      }
      return peers.sort((a, b) => (a.subnet < b.subnet ? -1 : a.subnet > b.subnet ? 1 : 0));
    } catch (err) {
      throw new DataPlaneFailed(what, netns, message(err), err);
    }
  }

  async ensureEndpoint(netns: string, ep: EndpointSpec): Promise<void> {
    const what = `attach ${ep.hostIfname}`;
    if (!/^[A-Za-z0-9_.-]{1,15}$/.test(ep.hostIfname)) throw new TypeError(`invalid host interface name "${ep.hostIfname}" (1-15 characters)`);
    if (!/^[A-Za-z0-9_.-]{1,15}$/.test(ep.ifname)) throw new TypeError(`invalid interface name "${ep.ifname}" (1-15 characters)`);
    ipv4Buffer(ep.ip);
    const gateway = ipv4Buffer(ep.gateway);
    const mac = macBuffer(ep.mac);
    const h = this.handle(netns, what);

    let sandbox: RtNetlinkSocket;
    try {
      sandbox = openRtnl(ep.sandboxNetnsPath);
    } catch (err) {
      throw new DataPlaneFailed(what, netns, `cannot enter sandbox ${ep.sandboxNetnsPath}: ${message(err)}`, err);
    }
    const undo: Array<() => Promise<void>> = [];
    try {
      const br = await getLinkByName(h.sock, BRIDGE_NAME);
      if (!br) throw new DataPlaneFailed(what, netns, `${BRIDGE_NAME} is missing (ensureNetwork first)`);
      const brIndex = br.data.index ?? 0;
      let host = await getLinkByName(h.sock, ep.hostIfname);
      let inner = await getLinkByName(sandbox, ep.ifname);
      if (host) {
        const paired =
          linkKind(host) === 'veth' &&
          inner !== undefined &&
          linkKind(inner) === 'veth' &&
          linkAttrIndex(host) === inner.data.index &&
          linkAttrIndex(inner) === host.data.index;
        if (!paired || !inner) {
          throw new DataPlaneConflict(what, netns, `${ep.hostIfname} already exists and is not paired with ${ep.ifname} in ${ep.sandboxNetnsPath}`);
        }
      } else {
        if (inner) throw new DataPlaneConflict(what, netns, `sandbox ${ep.sandboxNetnsPath} already has an interface ${ep.ifname}`);
        const sandboxFd = openNetns(ep.sandboxNetnsPath);
        try {
          await h.sock.newLink(
            {},
            {
              ifname: ep.hostIfname,
              mtu: ep.mtu,
              master: brIndex,
              linkinfo: linkInfo('veth', vethPeerData({ ifname: ep.ifname, netNsFd: sandboxFd, mtu: ep.mtu, address: mac })),
            },
            { flags: CREATE_EXCL, ...T },
          );
        } finally {
          closeSync(sandboxFd);
        }
        undo.push(() => ignoreMissing(h.sock.delLink({}, { ifname: ep.hostIfname }, T)));
        host = await getLinkByName(h.sock, ep.hostIfname);
        inner = await getLinkByName(sandbox, ep.ifname);
        if (!host || !inner) throw new Error(`veth ${ep.hostIfname}/${ep.ifname} vanished after creation`);
      }
      await setLinkUp(h.sock, host.data.index ?? 0, { mtu: ep.mtu, master: brIndex });
      const innerIndex = inner.data.index ?? 0;
      await setLinkUp(sandbox, innerIndex, { mtu: ep.mtu, address: mac });
      await ensureOnlyAddress(sandbox, innerIndex, ep.ip, ep.prefixLength);
      const route = parseCidr(ep.route ?? '0.0.0.0/0', 'endpoint route');
      await sandbox.newRoute(
        { family: AF_INET, dstLen: route.prefixLength, table: RT_TABLE_MAIN, protocol: 'BOOT', scope: 'UNIVERSE', type: 'UNICAST' },
        { ...(route.prefixLength > 0 ? { dst: ipv4Buffer(formatIpv4(route.network)) } : {}), gateway, oif: innerIndex },
        { flags: CREATE_REPLACE, ...T },
      );
    } catch (err) {
      for (const step of undo.reverse()) {
        try {
          await step();
        } catch (undoErr) {
          this.log?.error({ netns, endpoint: ep.hostIfname, err: undoErr }, 'rollback step failed');
        }
      }
      if (err instanceof DataPlaneFailed || err instanceof DataPlaneConflict) throw err;
      throw new DataPlaneFailed(what, netns, message(err), err);
    } finally {
      closeRtnl(sandbox);
    }
  }

  async deleteEndpoint(netns: string, hostIfname: string): Promise<void> {
    const what = `detach ${hostIfname}`;
    if (netnsId(netnsPath(netns)) === undefined) return;
    const h = this.handle(netns, what);
    try {
      const link = await getLinkByName(h.sock, hostIfname);
      if (!link) return;
      if (linkKind(link) !== 'veth') throw new DataPlaneConflict(what, netns, `${hostIfname} is a ${linkKind(link) ?? 'device'}, not an endpoint veth`);
      await ignoreMissing(h.sock.delLink({ index: link.data.index }, {}, T));
    } catch (err) {
      if (err instanceof DataPlaneConflict) throw err;
      throw new DataPlaneFailed(what, netns, message(err), err);
    }
  }

  async listEndpoints(netns: string): Promise<string[]> {
    const what = 'list endpoints';
    const h = this.handle(netns, what);
    try {
      const links = await h.sock.getLinks({}, {}, T);
      const br = links.find((l) => l.attrs.ifname === BRIDGE_NAME);
      if (!br) return [];
      return links
        .filter((l) => l.attrs.master === br.data.index && linkKind(l) === 'veth')
        .map((l) => l.attrs.ifname ?? '')
        .sort();
    } catch (err) {
      throw new DataPlaneFailed(what, netns, message(err), err);
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const netns of [...this.handles.keys()]) this.dropHandle(netns);
    closeRtnl(this.agentSock);
  }

  /** The cached socket of `netns`, (re)opened inside it when missing or stale. */
  private handle(netns: string, what: string): NsHandle {
    if (this.closed) throw new Error('NetlinkDataPlane is closed');
    const id = netnsId(netnsPath(netns));
    if (id === undefined) throw new NetnsNotFound(what, netns);
    const cached = this.handles.get(netns);
    if (cached?.id === id) return cached;
    if (cached) this.dropHandle(netns);
    const h: NsHandle = { id, sock: openRtnl(netns) };
    this.handles.set(netns, h);
    return h;
  }

  private dropHandle(netns: string): void {
    const h = this.handles.get(netns);
    if (!h) return;
    this.handles.delete(netns);
    closeRtnl(h.sock);
    h.batch?.close();
  }

  private async vxlanIndex(h: NsHandle, netns: string): Promise<number> {
    if (h.vxlanIndex !== undefined) return h.vxlanIndex;
    const vx = await getLinkByName(h.sock, VXLAN_NAME);
    if (vx?.data.index === undefined) throw new DataPlaneFailed('find the VXLAN device', netns, `${VXLAN_NAME} is missing (ensureNetwork first)`);
    h.vxlanIndex = vx.data.index;
    return vx.data.index;
  }

  /** The MAC of the neighbour entry for `ip` on link `ifindex`. Equivalent to: ip neigh get IP dev DEV */
  private async neighborMac(sock: RtNetlinkSocket, ifindex: number, ip: Buffer): Promise<Buffer | undefined> {
    try {
      const [n] = await sock.getNeighbor({ family: AF_INET, ifindex }, { dst: ip }, T);
      return n?.attrs.lladdr;
    } catch (err) {
      if (rejected(err, 'ENOENT')) return undefined;
      throw err;
    }
  }
}
