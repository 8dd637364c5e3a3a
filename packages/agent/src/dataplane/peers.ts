/**
 * Remote hosts on a network: one route, one permanent neighbour entry and one
 * permanent FDB entry per peer (flannel's static model, see data-plane.ts),
 * written as multi-message netlink datagrams (rtnl-batch.ts): 1,000 peers take
 * tens of milliseconds instead of a second of per-entry round trips
 * (bench/results/agent-programming.md). Read back from three dumps.
 */
import { parseCidr } from '@vxnet/common';

import { DataPlaneFailed } from '../errors.js';
import { VXLAN_NAME, type Peer } from './data-plane.js';
import { vxlanIndex } from './devices.js';
import { cidrToU32, ipv4ToU32, macToBuffer, writeFdb, writeNeighbour, writeRoute, writeRouteDelete } from './peer-messages.js';
import { BatchWriter, RtnlBatchSocket } from './rtnl-batch.js';
import { AF_BRIDGE, AF_INET, REQUEST_TIMEOUT_MS, RT_TABLE_MAIN, getLinkByName, ipv4Text, macBuffer, macText } from './rtnl.js';
import { errorText, type NetnsSockets, type NsHandle } from './sockets.js';

const T = { timeout: REQUEST_TIMEOUT_MS };

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

/** See DataPlane.ensurePeers. */
export async function ensurePeers(s: NetnsSockets, netns: string, peers: Peer[]): Promise<void> {
  const what = `program ${peers.length} peers`;
  const h = s.handle(netns, what);
  const bits = peers.map(peerBits);
  if (bits.length === 0) return;
  try {
    const ifindex = await vxlanIndex(h, netns);
    // A peer whose VXLAN device was recreated comes back with a new MAC: the FDB
    // entry of the old one would otherwise stay behind, invisible to listPeers.
    // One neighbour dump finds them all.
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
    await runBatch(h, netns, what, w, refs, (kind) => kind === 'old fdb');
  } catch (err) {
    if (err instanceof DataPlaneFailed) throw err;
    throw new DataPlaneFailed(what, netns, errorText(err), err);
  }
}

/** See DataPlane.deletePeers. */
export async function deletePeers(s: NetnsSockets, netns: string, peers: Peer[]): Promise<void> {
  const what = `delete ${peers.length} peers`;
  const bits = peers.map(peerBits);
  if (bits.length === 0 || !s.exists(netns)) return;
  const h = s.handle(netns, what);
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
    await runBatch(h, netns, what, w, refs, () => true);
  } catch (err) {
    if (err instanceof DataPlaneFailed) throw err;
    throw new DataPlaneFailed(what, netns, errorText(err), err);
  }
}

/**
 * Sends a batch; throws DataPlaneFailed naming the refused entries (all of
 * them in `cause`, an AggregateError of `Error('<entry>: Request rejected:
 * ECODE')`, the library's wording). Not-found answers to entries for which
 * `missingOk` holds are success. Entries are independent: the kernel applies
 * every one it accepts, whatever happens to the others.
 */
async function runBatch(h: NsHandle, netns: string, what: string, w: BatchWriter, refs: EntryRefs, missingOk: (kind: EntryKind) => boolean): Promise<void> {
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

/** See DataPlane.listPeers. */
export async function listPeers(s: NetnsSockets, netns: string): Promise<Peer[]> {
  const what = 'list peers';
  const h = s.handle(netns, what);
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
    throw new DataPlaneFailed(what, netns, errorText(err), err);
  }
}
