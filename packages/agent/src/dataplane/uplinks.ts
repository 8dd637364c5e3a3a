/**
 * Uplinks: one veth per (host, network) between the agent's namespace (host end
 * `vxu-…`) and the network's namespace (`uplink`), the way in and out of the
 * overlay. Containers keep their one interface: the network namespace routes what
 * is not on the overlay to the uplink, the host namespace routes this host's subnet
 * back (and, when exposed, the whole network), and the firewall in the host
 * namespace decides what may pass (firewall/ruleset.ts).
 *
 * Both ends hold link-local /32s (169.254.1.1 host, 169.254.1.2 network side) and
 * route to each other `onlink`: the same pair of addresses on every uplink, nothing
 * allocated, nothing that leaves the host. Expose adds the host's address on the
 * network: a /32 on the host end, used as the source of the routes towards the
 * network, a /32 route back in the network namespace, and a proxy-ARP entry on br0
 * so that containers of this host, which see the address as on-link, get an ARP
 * answer (with proxy_delay 0 on br0: the default delays answers by up to 0.8 s).
 */
import { closeSync, readFileSync, writeFileSync } from 'node:fs';

import { formatIpv4, parseCidr, type Logger } from '@vxnet/common';
import { inNetns, openNetns } from '@vxnet/netns';

import { DataPlaneConflict, DataPlaneFailed } from '../errors.js';
import { BRIDGE_NAME, UPLINK_HOST_IP, UPLINK_NAME, UPLINK_NETNS_IP, UPLINK_PREFIX, type HostAddress, type UplinkSpec } from './data-plane.js';
import {
  AF_INET,
  CREATE_EXCL,
  CREATE_REPLACE,
  REQUEST_TIMEOUT_MS,
  RTNH_F_ONLINK,
  RT_TABLE_MAIN,
  IFNAME,
  getLinkByName,
  ignoreMissing,
  ipv4Buffer,
  ipv4Text,
  linkInfo,
  linkKind,
  peerIndex,
  setLinkUp,
  vethPeerData,
  type LinkMessage,
  type RtNetlinkSocket,
} from './rtnl.js';
import { errorText, type NetnsSockets } from './sockets.js';

const T = { timeout: REQUEST_TIMEOUT_MS };

function paired(host: LinkMessage | undefined, inner: LinkMessage | undefined): boolean {
  return (
    host !== undefined && inner !== undefined && linkKind(host) === 'veth' && linkKind(inner) === 'veth' &&
    peerIndex(host) === inner.data.index && peerIndex(inner) === host.data.index
  );
}

interface WantedRoute {
  dst: string;
  dstLen: number;
  prefsrc?: string;
}

/** See DataPlane.ensureUplink. */
export async function ensureUplink(s: NetnsSockets, log: Logger | undefined, spec: UplinkSpec): Promise<void> {
  const what = `ensure uplink ${spec.hostIfname}`;
  if (!IFNAME.test(spec.hostIfname) || !spec.hostIfname.startsWith(UPLINK_PREFIX)) {
    throw new TypeError(`invalid uplink name "${spec.hostIfname}" (${UPLINK_PREFIX}…, at most 15 characters)`);
  }
  if (!Number.isInteger(spec.mtu) || spec.mtu < 68 || spec.mtu > 65535) throw new TypeError(`invalid MTU ${spec.mtu}`);
  const subnet = parseCidr(spec.hostSubnet, 'host subnet');
  if (spec.expose) ipv4Buffer(spec.expose.ip);
  const expose = spec.expose && { ip: spec.expose.ip, network: parseCidr(spec.expose.network, 'network CIDR') };
  const h = s.handle(spec.netns, what);
  const undo: Array<() => Promise<void>> = [];
  try {
    let host = await getLinkByName(s.agent, spec.hostIfname);
    let inner = await getLinkByName(h.sock, UPLINK_NAME);
    if (host && !paired(host, inner)) {
      throw new DataPlaneConflict(what, spec.netns, `${spec.hostIfname} exists in the agent namespace and is not the peer of ${UPLINK_NAME} in ${spec.netns}`);
    }
    if (!host) {
      // An `uplink` without its host end is a leftover in our own namespace: replace it.
      if (inner) {
        log?.warn({ netns: spec.netns, device: UPLINK_NAME }, 'removing an uplink end without its host end');
        await ignoreMissing(h.sock.delLink({ index: inner.data.index }, {}, T));
      }
      const fd = openNetns(spec.netns);
      try {
        // created from the agent namespace, the peer born directly in the network's
        await s.agent.newLink(
          {},
          { ifname: spec.hostIfname, mtu: spec.mtu, linkinfo: linkInfo('veth', vethPeerData({ ifname: UPLINK_NAME, netNsFd: fd, mtu: spec.mtu })) },
          { flags: CREATE_EXCL, ...T },
        );
      } finally {
        closeSync(fd);
      }
      undo.push(() => ignoreMissing(s.agent.delLink({}, { ifname: spec.hostIfname }, T)));
      host = await getLinkByName(s.agent, spec.hostIfname);
      inner = await getLinkByName(h.sock, UPLINK_NAME);
      if (!host || !inner) throw new Error(`veth ${spec.hostIfname}/${UPLINK_NAME} vanished after creation`);
    }
    const hostIndex = host.data.index ?? 0;
    const innerIndex = inner?.data.index ?? 0;
    await setLinkUp(s.agent, hostIndex, { mtu: spec.mtu });
    await setLinkUp(h.sock, innerIndex, { mtu: spec.mtu });
    await ensureAddresses(s.agent, hostIndex, [UPLINK_HOST_IP, ...(expose ? [expose.ip] : [])]);
    await ensureAddresses(h.sock, innerIndex, [UPLINK_NETNS_IP]);

    const src = expose ? { prefsrc: expose.ip } : {};
    await ensureRoutes(s.agent, hostIndex, UPLINK_NETNS_IP, [
      { dst: formatIpv4(subnet.network), dstLen: subnet.prefixLength, ...src },
      ...(expose ? [{ dst: formatIpv4(expose.network.network), dstLen: expose.network.prefixLength, ...src }] : []),
    ]);
    await ensureRoutes(h.sock, innerIndex, UPLINK_HOST_IP, [{ dst: '0.0.0.0', dstLen: 0 }, ...(expose ? [{ dst: expose.ip, dstLen: 32 }] : [])]);

    const br = await getLinkByName(h.sock, BRIDGE_NAME);
    if (!br) throw new DataPlaneFailed(what, spec.netns, `${BRIDGE_NAME} is missing (ensureNetwork first)`);
    if (expose) setProxyDelayZero(spec.netns);
    await ensureProxyNeighbours(h.sock, br.data.index ?? 0, expose ? [expose.ip] : []);
  } catch (err) {
    for (const step of undo.reverse()) {
      try {
        await step();
      } catch (undoErr) {
        log?.error({ netns: spec.netns, uplink: spec.hostIfname, err: undoErr }, 'rollback step failed');
      }
    }
    if (err instanceof DataPlaneFailed || err instanceof DataPlaneConflict || err instanceof TypeError) throw err;
    throw new DataPlaneFailed(what, spec.netns, errorText(err), err);
  }
}

/**
 * Makes `ips` (each /32) exactly the IPv4 addresses of link `index`.
 *
 * Equivalent to: ip addr replace IP/32 dev DEV …; ip addr del OTHER dev DEV
 */
async function ensureAddresses(sock: RtNetlinkSocket, index: number, ips: string[]): Promise<void> {
  const want = new Set(ips);
  const addrs = (await sock.getAddresses({ family: AF_INET }, {}, T)).filter((a) => a.data.index === index);
  for (const a of addrs) {
    const local = a.attrs.local ?? a.attrs.address;
    const ip = ipv4Text(local);
    if (ip && want.has(ip) && a.data.prefixlen === 32) {
      want.delete(ip);
      continue;
    }
    await ignoreMissing(sock.delAddress({ family: AF_INET, index, prefixlen: a.data.prefixlen }, { local, address: a.attrs.address }, T));
  }
  // in the order given: the first becomes the device's preferred source (masquerade's choice)
  for (const ip of ips.filter((x) => want.has(x))) {
    const b = ipv4Buffer(ip);
    await sock.newAddress({ family: AF_INET, index, prefixlen: 32 }, { local: b, address: b }, { flags: CREATE_REPLACE, ...T });
  }
}

/**
 * Makes `routes` (via `gateway` onlink) exactly the main-table routes out of link
 * `index`: others are deleted, these replaced (so a changed source is updated).
 *
 * Equivalent to: ip route replace DST via GW dev DEV onlink [src SRC] …; ip route del OTHER dev DEV
 */
async function ensureRoutes(sock: RtNetlinkSocket, index: number, gateway: string, routes: WantedRoute[]): Promise<void> {
  const key = (dst: string, len: number) => `${dst}/${len}`;
  const want = new Set(routes.map((r) => key(r.dst, r.dstLen)));
  for (const r of await sock.getRoutes({ family: AF_INET }, {}, T)) {
    if (r.attrs.oif !== index || (r.attrs.table ?? r.data.table) !== RT_TABLE_MAIN) continue;
    const dst = ipv4Text(r.attrs.dst) ?? '0.0.0.0';
    if (want.has(key(dst, r.data.dstLen ?? 0))) continue;
    await ignoreMissing(sock.delRoute({ family: AF_INET, dstLen: r.data.dstLen, table: RT_TABLE_MAIN }, { ...(r.attrs.dst ? { dst: r.attrs.dst } : {}), oif: index }, T));
  }
  const gw = ipv4Buffer(gateway);
  for (const r of routes) {
    await sock.newRoute(
      { family: AF_INET, dstLen: r.dstLen, table: RT_TABLE_MAIN, protocol: 'BOOT', scope: 'UNIVERSE', type: 'UNICAST', flags: { __unknown: RTNH_F_ONLINK } },
      { ...(r.dstLen > 0 ? { dst: ipv4Buffer(r.dst) } : {}), gateway: gw, oif: index, ...(r.prefsrc ? { prefsrc: ipv4Buffer(r.prefsrc) } : {}) },
      { flags: CREATE_REPLACE, ...T },
    );
  }
}

/** NTF_PROXY: a proxy-ARP entry (`ip neigh add proxy …`). */
const NTF_PROXY = 0x08;

/**
 * Makes `ips` exactly the proxy-ARP entries on link `index` (br0).
 *
 * Equivalent to: ip neigh add proxy IP dev br0; ip neigh del proxy OTHER dev br0
 */
async function ensureProxyNeighbours(sock: RtNetlinkSocket, index: number, ips: string[]): Promise<void> {
  const want = new Set(ips);
  const existing = await sock.getNeighbors({ family: AF_INET, flags: { __unknown: NTF_PROXY } }, {}, T);
  for (const n of existing) {
    if (n.data.ifindex !== index || !n.data.flags?.proxy) continue;
    const ip = ipv4Text(n.attrs.dst);
    if (ip && want.delete(ip)) continue;
    await ignoreMissing(sock.delNeighbor({ family: AF_INET, ifindex: index, flags: { __unknown: NTF_PROXY } }, { dst: n.attrs.dst }, T));
  }
  for (const ip of want) {
    await sock.newNeighbor({ family: AF_INET, ifindex: index, flags: { __unknown: NTF_PROXY } }, { dst: ipv4Buffer(ip) }, { flags: CREATE_REPLACE, ...T });
  }
}

/** Equivalent to: ip netns exec NS sysctl -w net.ipv4.neigh.br0.proxy_delay=0 */
function setProxyDelayZero(netns: string): void {
  inNetns(netns, () => {
    const p = `/proc/sys/net/ipv4/neigh/${BRIDGE_NAME}/proxy_delay`;
    if (readFileSync(p, 'utf8').trim() !== '0') writeFileSync(p, '0\n');
  });
}

/** See DataPlane.deleteUplink. */
export async function deleteUplink(s: NetnsSockets, hostIfname: string): Promise<void> {
  const what = `delete uplink ${hostIfname}`;
  try {
    const link = await getLinkByName(s.agent, hostIfname);
    if (!link) return;
    if (linkKind(link) !== 'veth') throw new DataPlaneConflict(what, '(agent)', `${hostIfname} is a ${linkKind(link) ?? 'device'}, not an uplink veth`);
    await ignoreMissing(s.agent.delLink({ index: link.data.index }, {}, T));
  } catch (err) {
    if (err instanceof DataPlaneConflict) throw err;
    throw new DataPlaneFailed(what, '(agent)', errorText(err), err);
  }
}

/** See DataPlane.listUplinks. */
export async function listUplinks(s: NetnsSockets): Promise<string[]> {
  try {
    const links = await s.agent.getLinks({}, {}, T);
    return links
      .filter((l) => l.attrs.ifname?.startsWith(UPLINK_PREFIX) && linkKind(l) === 'veth')
      .map((l) => l.attrs.ifname ?? '')
      .sort();
  } catch (err) {
    throw new DataPlaneFailed('list uplinks', '(agent)', errorText(err), err);
  }
}

/** See DataPlane.listHostAddresses. */
export async function listHostAddresses(s: NetnsSockets): Promise<HostAddress[]> {
  try {
    const links = await s.agent.getLinks({}, {}, T);
    const names = new Map(links.map((l) => [l.data.index, l.attrs.ifname ?? '']));
    const addrs = await s.agent.getAddresses({ family: AF_INET }, {}, T);
    return addrs
      .map((a) => ({ ip: ipv4Text(a.attrs.local ?? a.attrs.address) ?? '', prefixLength: a.data.prefixlen ?? 32, ifname: names.get(a.data.index) ?? '' }))
      .filter((a) => a.ip !== '');
  } catch (err) {
    throw new DataPlaneFailed('list host addresses', '(agent)', errorText(err), err);
  }
}
