/**
 * The routes of the host namespace that vxnet did not make, reported in
 * hosts/<host>.routes so that the controller refuses (and its pool skips) network
 * subnets that would shadow them: a VPN's 10.99.0.0/16, a second NIC's subnet. Docker
 * users hit this as silent overlaps (moby#19499, moby#33626).
 *
 * Why nothing needs to be told apart as "ours": the agent makes no device, address or
 * route in the host namespace for a network. Each network's bridge and VXLAN device live in the
 * network's own namespace (the VXLAN device is born there, see ensureNetwork), and
 * container veths join that namespace and the sandbox. So every route read here is
 * somebody else's, with one deliberate exception: the WireGuard device of encrypted
 * networks (wireguard/) holds this host's tunnel address with the pool's prefix length,
 * so the pool is reported as a connected subnet, and the controller keeps networks
 * out of it just as it must.
 */
import { networkOf, type Cidr } from '@vxnet/common';
import { rt } from 'netlink';
import { AF_INET, RT_TABLE_MAIN, REQUEST_TIMEOUT_MS, closeRtnl, ipv4Text, openRtnl } from '../dataplane/rtnl.js';

/** RT_SCOPE_HOST: routes and addresses that never leave the host (loopback). */
const SCOPE_HOST = rt.RouteScope.HOST;
/**
 * Route types that claim a destination range: forwarded, or refused on purpose
 * (a blackhole for an aggregate, an unreachable for a withdrawn VPN). Local,
 * broadcast, multicast and the rest describe addresses of this host and live in the
 * local table anyway.
 */
const CLAIMING_TYPES = new Set(['UNICAST', 'BLACKHOLE', 'UNREACHABLE', 'PROHIBIT']);

// netlink 0.3.0 parses known enum values to their names and leaves unknown ones numeric
const scopeNumber = (s: rt.Route['scope']): number | undefined => (typeof s === 'string' ? rt.RouteScope[s] : s);
const typeName = (v: rt.Route['type']): string | undefined => (typeof v === 'number' ? rt.RouteType[v] : v);

/**
 * The destinations to report, from a dump of IPv4 routes and addresses (pure, so it
 * is tested on hand-made messages). Kept: routes of the main table, except the
 * default route, host-scope routes and types that do not claim a range; and the
 * connected subnet of every address that is not host-scope (loopback), which covers
 * addresses added with `noprefixroute` and /32s. Deduplicated, sorted by address.
 */
export function hostRoutes(routes: readonly rt.RouteMessage[], addresses: readonly rt.AddressMessage[]): string[] {
  const out = new Map<string, Cidr>();
  const add = (c: Cidr | undefined) => c && out.set(c.text, c);
  for (const r of routes) {
    if (r.data.family !== AF_INET || (r.attrs.table ?? r.data.table) !== RT_TABLE_MAIN) continue; // dumps are not filtered by the kernel
    const dstLen = r.data.dstLen ?? 0;
    if (dstLen === 0 || scopeNumber(r.data.scope) === SCOPE_HOST || !CLAIMING_TYPES.has(typeName(r.data.type) ?? '')) continue;
    add(networkOf(ipv4Text(r.attrs.dst) ?? '', dstLen));
  }
  for (const a of addresses) {
    if (a.data.family !== AF_INET || a.data.scope === SCOPE_HOST) continue;
    // IFA_ADDRESS is the prefix address (the peer's on a point-to-point link), IFA_LOCAL our own
    add(networkOf(ipv4Text(a.attrs.address ?? a.attrs.local) ?? '', a.data.prefixlen ?? 32));
  }
  return [...out.values()].sort((x, y) => x.network - y.network || x.prefixLength - y.prefixLength).map((c) => c.text);
}

/**
 * Read hostRoutes() from the kernel. Read-only. `netns`: a namespace name or path to
 * read instead of the calling thread's (the agent reads its own, the host namespace).
 * Equivalent to: `ip -4 route show table main` and `ip -4 addr show`.
 * Throws the netlink error when the kernel cannot be asked.
 */
export async function readHostRoutes(netns?: string): Promise<string[]> {
  const sock = openRtnl(netns);
  try {
    const T = { timeout: REQUEST_TIMEOUT_MS };
    const routes = await sock.getRoutes({ family: AF_INET }, {}, T);
    const addresses = await sock.getAddresses({ family: AF_INET }, {}, T);
    return hostRoutes(routes, addresses);
  } finally {
    closeRtnl(sock);
  }
}
