/**
 * The agent's kernel data plane: flannel's static VXLAN model, one network
 * namespace per (host, network) for Docker-style isolation (DESIGN.md "Data plane").
 *
 * Design notes:
 * - Static entries, no learning, no L2/L3-miss upcalls, no multicast: for every
 *   other host on the network there is exactly one route (remote subnet via the
 *   remote VTEP address, onlink), one permanent neighbour entry (VTEP address ->
 *   VTEP MAC) and one permanent FDB entry (VTEP MAC -> remote underlay address).
 *   N hosts on a network cost 3(N-1) kernel entries per host, set when leases
 *   change, never on the packet path.
 * - Each network gets its own namespace holding a bridge (the gateway) and the
 *   VXLAN device; networks share nothing, so they cannot reach each other, and
 *   IP forwarding is enabled in these namespaces.
 * - The way out (uplinks.ts): a non-internal network's namespace has one more
 *   veth, `uplink`, into the agent's namespace, where the firewall (one nftables
 *   table, firewall/) masquerades what leaves, drops uplink -> uplink, and lets in
 *   only replies and published ports. Containers keep one interface (no Docker
 *   gwbridge leg per container); internal networks have no uplink at all.
 * - The VXLAN device is created from the agent's namespace with the target
 *   namespace as its home: its UDP socket stays on the underlay while the
 *   device itself lives with the bridge.
 */

/** Device names inside every network namespace. */
export const BRIDGE_NAME = 'br0';
export const VXLAN_NAME = 'vxlan0';
/** IANA VXLAN port. */
export const VXLAN_PORT = 4789;

/** Uplinks (uplinks.ts): host-end name prefix, the name in the network namespace, and the two link-local ends. */
export const UPLINK_PREFIX = 'vxu-';
export const UPLINK_NAME = 'uplink';
export const UPLINK_HOST_IP = '169.254.1.1';
export const UPLINK_NETNS_IP = '169.254.1.2';

/** The VXLAN device of one (host, network), before the host's subnet is known. */
/** An interface inside a sandbox as the kernel has it (DataPlane.sandboxInterface). */
export interface SandboxInterface {
  mac: string;
  mtu: number;
  up: boolean;
  /** `A.B.C.D/LEN` */
  addresses: string[];
  /** Main-table IPv4 routes through the interface: `dst` as `A.B.C.D/LEN` (0.0.0.0/0 for the default), `gw` when via a gateway. */
  routes: Array<{ dst: string; gw?: string }>;
}

export interface VtepSpec {
  /** Namespace name for this (host, network), e.g. `vxnet-0123456789ab`. */
  netns: string;
  /** VXLAN network identifier, 1..16777215. */
  vni: number;
  /** MTU in bytes of the bridge, the VXLAN device and endpoint veths (underlay MTU - 50). */
  mtu: number;
  /**
   * Local address of the VTEP (in the agent's namespace): the underlay address, or on
   * encrypted networks this host's WireGuard tunnel address.
   */
  underlayIp: string;
  /**
   * The VXLAN device's underlay link in the agent's namespace, e.g. `eth0`; null on
   * encrypted networks: no `dev`, the route to the peer's tunnel address picks the
   * WireGuard device. (A `dev` would tie vxlan0 to it, and the kernel deletes VXLAN
   * devices whose lower device goes away, as a restarted wireguard-go's TUN does.)
   */
  underlayDevice: string | null;
}

/** One (host, network) namespace and its devices. */
export interface NetworkPlaneSpec extends VtepSpec {
  /** The host's leased subnet, canonical CIDR, e.g. `10.128.3.0/24`. */
  hostSubnet: string;
  /** First address of hostSubnet, e.g. `10.128.3.1`; held by the bridge with hostSubnet's prefix length. */
  gateway: string;
  /** Network address of hostSubnet, e.g. `10.128.3.0`; held by the VXLAN device as /32. */
  vtepIp: string;
}

/** Another host's presence on a network. */
export interface Peer {
  /** The remote host's leased subnet, canonical CIDR. */
  subnet: string;
  /** The remote VXLAN device's address (network address of `subnet`). */
  vtepIp: string;
  /** The remote VXLAN device's MAC, lower-case `aa:bb:cc:dd:ee:ff`. */
  vtepMac: string;
  /** Where VXLAN packets go: the remote host's underlay address, or on encrypted networks its WireGuard tunnel address. */
  underlayIp: string;
}

/** A container's attachment to a network on this host. */
export interface EndpointSpec {
  /** The container's network namespace file, e.g. `/run/netns/ctr1` or `/proc/PID/ns/net`. */
  sandboxNetnsPath: string;
  /** Interface name inside the sandbox, usually `eth0`. */
  ifname: string;
  /** Host-side veth name in the network namespace: at most 15 characters, unique there. */
  hostIfname: string;
  /** The container's address in the host's subnet. */
  ip: string;
  /** Prefix length for `ip` (the host subnet's). */
  prefixLength: number;
  /** The container interface's MAC (Docker-style 02:42 + IP bytes, computed by the caller). */
  mac: string;
  /** The bridge address, the sandbox's next hop for `route`. */
  gateway: string;
  /**
   * What the sandbox reaches through this interface, via the gateway: `0.0.0.0/0`
   * (the default route, default) for its first interface, the network's whole CIDR
   * for the others, so that a second network never takes over the default route.
   */
  route?: string;
  /** MTU in bytes of both veth ends. */
  mtu: number;
}

/**
 * A container attachment whose container end the runtime moves into the sandbox
 * itself: Docker's NetworkDriver.Join runs before the sandbox exists, answers the
 * name of a device in dockerd's namespace (the agent's), and Docker then moves it,
 * renames it and sets its address and routes.
 */
export interface HandoffEndpointSpec {
  /** Host-side veth name in the network namespace, on br0: at most 15 characters, unique there. */
  hostIfname: string;
  /** The other end, left down in the agent's namespace for the runtime: at most 15 characters. */
  handoffIfname: string;
  /** The container interface's MAC, set on the handed-off end. */
  mac: string;
  /** MTU in bytes of both ends (the runtime does not set one). */
  mtu: number;
}

/** The way in and out of one (host, network): a veth from the agent's namespace into the network's. */
export interface UplinkSpec {
  /** The network's namespace (made by ensureNetwork). */
  netns: string;
  /** Host end in the agent's namespace: `vxu-` + the first 11 hex characters of the network id. */
  hostIfname: string;
  /** The host's leased subnet, canonical CIDR: routed from the agent's namespace into the network's. */
  hostSubnet: string;
  /** MTU in bytes of both ends (the network's). */
  mtu: number;
  /**
   * The host's own address on the network (expose), or absent. `ip` is an address
   * of hostSubnet that no endpoint uses; `network` the network's whole CIDR.
   */
  expose?: { ip: string; network: string };
}

/** An IPv4 address of the agent's namespace. */
export interface HostAddress {
  ip: string;
  prefixLength: number;
  /** The interface holding it. */
  ifname: string;
}

/**
 * Kernel programming for the agent. Every method is idempotent: repeating a call
 * with the same arguments leaves the same kernel state and succeeds; deleting
 * what is absent succeeds. Methods taking `netns` require the namespace made by
 * ensureNetwork and otherwise throw `VXNET_NETNS_NOT_FOUND` (deletes excepted).
 * Kernel refusals are thrown as `VXNET_DATAPLANE_FAILED` naming the operation,
 * with the netlink error as `cause`. The data plane only touches devices,
 * addresses, routes and entries it creates; calls for one netns must not run
 * concurrently with each other (the agent's reconciler serialises them).
 */
export interface DataPlane {
  /**
   * Creates or repairs the namespace of one (host, network): bridge `br0` holding
   * gateway/prefix and the DNS address 169.254.169.53/32 (VXNET_DNS_ADDRESS), up, MTU; VXLAN device `vxlan0` (VNI, UDP 4789, learning off,
   * local underlayIp, dev underlayDevice) holding vtepIp/32, up, MTU; IPv4
   * forwarding on inside. Drifted attributes (down, MTU, addresses) are fixed in
   * place; a device of the wrong kind or with different VXLAN parameters is
   * deleted and recreated (as flannel's ensureLink). Returns the VXLAN device's
   * MAC, stable across calls while the device is not recreated.
   *
   * Equivalent to: ip netns add NS;
   * ip -n NS link add br0 type bridge; ip -n NS addr add GW/LEN dev br0; ip -n NS addr add 169.254.169.53/32 dev br0;
   * ip -n NS link set br0 mtu MTU up;
   * ip link add vxlan0 netns NS type vxlan id VNI dstport 4789 nolearning local UNDERLAY_IP dev UNDERLAY_DEV;
   * ip -n NS addr add VTEP/32 dev vxlan0; ip -n NS link set vxlan0 mtu MTU up;
   * ip netns exec NS sysctl -w net.ipv4.ip_forward=1
   */
  ensureNetwork(spec: NetworkPlaneSpec): Promise<{ vtepMac: string }>;

  /**
   * The first half of ensureNetwork, for joining before the subnet is known:
   * creates the namespace if absent and creates or repairs `vxlan0` (VNI, UDP
   * 4789, learning off, local underlayIp, dev underlayDevice, up, MTU) exactly as
   * ensureNetwork does, without touching addresses or the bridge. Returns the
   * VXLAN device's MAC, the one a following ensureNetwork returns unless the
   * device is recreated in between.
   *
   * Equivalent to: ip netns add NS;
   * ip link add vxlan0 netns NS type vxlan id VNI dstport 4789 nolearning local UNDERLAY_IP dev UNDERLAY_DEV;
   * ip -n NS link set vxlan0 mtu MTU up
   */
  ensureVtep(spec: VtepSpec): Promise<{ vtepMac: string }>;

  /**
   * Removes the namespace of one (host, network) with everything in it (endpoint
   * veths, so their container ends, the uplink, so its host end, the VXLAN device,
   * the bridge) and closes its cached netlink socket. Idempotent: an absent
   * namespace is success.
   *
   * Equivalent to: ip -n NS link del VETH…; ip -n NS link del uplink; ip -n NS link del vxlan0; ip netns delete NS
   */
  deleteNetwork(netns: string): Promise<void>;

  /**
   * Programs remote hosts: for each peer a route, a permanent neighbour entry
   * and a permanent FDB entry; if a peer's VTEP MAC changed, the FDB entry of
   * the old MAC is removed. Sent as a few multi-message netlink datagrams
   * instead of one round trip per entry. Replace-idempotent.
   *
   * The route's metric is SUBNET's network address as a u32 (see routeMetric:
   * it keeps the kernel's route insertion linear in the number of peers). Throws TypeError
   * for an invalid peer before anything is sent. Entries are independent: when
   * the kernel refuses some, all the others are still applied and
   * `VXNET_DATAPLANE_FAILED` is thrown naming each refused entry (route,
   * neighbour or fdb, with subnet/IP/MAC and errno name); its `cause` is an
   * AggregateError with one Error per refused entry.
   *
   * Equivalent to: ip -n NS -batch - <<< "route replace SUBNET via VTEP_IP dev vxlan0 onlink metric SUBNET_U32
   * neigh replace VTEP_IP lladdr VTEP_MAC dev vxlan0 nud permanent …";
   * bridge -n NS -batch - <<< "fdb replace VTEP_MAC dev vxlan0 dst UNDERLAY_IP self permanent …"
   */
  ensurePeers(netns: string, peers: Peer[]): Promise<void>;

  /**
   * Removes remote hosts' routes, neighbours and FDB entries at once.
   * Not-found (of any entry, of vxlan0, or of the
   * namespace) is success; other refusals are reported as by ensurePeers.
   *
   * Equivalent to: ip -n NS -batch - <<< "route del SUBNET via VTEP_IP dev vxlan0
   * neigh del VTEP_IP dev vxlan0 …"; bridge -n NS -batch - <<< "fdb del VTEP_MAC dev vxlan0 self …"
   */
  deletePeers(netns: string, peers: Peer[]): Promise<void>;

  /**
   * The peers as the kernel has them: each route via vxlan0 joined with the
   * permanent neighbour entry of its gateway and the FDB entry of that MAC.
   * A partially programmed peer is returned with '' for the parts the kernel
   * lacks (vtepMac or underlayIp), so a reconciler can see and repair it.
   * Sorted by subnet.
   *
   * Equivalent to: ip -n NS route show dev vxlan0; ip -n NS neigh show dev vxlan0 nud permanent;
   * bridge -n NS fdb show dev vxlan0
   */
  listPeers(netns: string): Promise<Peer[]>;

  /**
   * Attaches a container: a veth pair whose host end (hostIfname) is on br0 and
   * whose other end is created directly in the sandbox as `ifname` with the MAC,
   * address, MTU, up, and a default route via the gateway. Idempotent when the
   * pair exists (its configuration is re-applied). Throws
   * `VXNET_DATAPLANE_CONFLICT` when hostIfname exists but is not paired with
   * `ifname` in that sandbox, or the sandbox already has `ifname`. On failure
   * after the pair was created, the pair is deleted (undo list) and the error
   * rethrown: nothing is left behind.
   *
   * Equivalent to: ip -n NS link add HOST_IF mtu MTU master br0 up type veth peer name IFNAME netns SANDBOX address MAC mtu MTU;
   * ip -n SANDBOX addr add IP/LEN dev IFNAME; ip -n SANDBOX link set IFNAME up;
   * ip -n SANDBOX route replace ROUTE via GW dev IFNAME      (ROUTE: default, or the network's CIDR)
   */
  ensureEndpoint(netns: string, ep: EndpointSpec): Promise<void>;

  /**
   * Prepares a container attachment for a runtime that moves the container end
   * itself (HandoffEndpointSpec): a veth pair whose host end (hostIfname) is on br0
   * in the network's namespace, up, and whose other end (handoffIfname) is left in
   * the agent's namespace, down, with the MAC and MTU; its address, routes and
   * name inside the sandbox are the runtime's. Idempotent while the pair is as made
   * (attributes re-applied). Throws `VXNET_DATAPLANE_CONFLICT` when hostIfname
   * exists but its peer is not handoffIfname in the agent's namespace (already
   * handed over, or not ours), or handoffIfname exists in the agent's namespace and
   * is not hostIfname's peer (never touched: not ours). On failure after the pair
   * was created it is deleted again. Deleted with deleteEndpoint (wherever the
   * runtime moved the other end, it goes too).
   *
   * Equivalent to: ip link add HANDOFF mtu MTU address MAC type veth peer name HOST_IF netns NS mtu MTU;
   * ip -n NS link set HOST_IF master br0 up
   */
  ensureHandoffEndpoint(netns: string, ep: HandoffEndpointSpec): Promise<void>;

  /**
   * Deletes an endpoint's veth pair (both ends). Idempotent: an absent interface
   * or namespace is success. Throws `VXNET_DATAPLANE_CONFLICT` if hostIfname is
   * not a veth (the data plane deletes only what it creates).
   *
   * Equivalent to: ip -n NS link del HOST_IF
   */
  deleteEndpoint(netns: string, hostIfname: string): Promise<void>;

  /**
   * Host-side names of the veths attached to br0, sorted.
   *
   * Equivalent to: ip -n NS link show master br0 type veth
   */
  listEndpoints(netns: string): Promise<string[]>;

  /**
   * What the kernel holds for interface `ifname` in the sandbox at `path` (for CNI's
   * CHECK): MAC, MTU, whether it is up, its IPv4 addresses and the IPv4 routes of
   * the main table through it; undefined when the sandbox has no such interface.
   * Throws when the sandbox cannot be entered. Reads only.
   *
   * Equivalent to: ip -n SANDBOX -j addr show dev IFNAME; ip -n SANDBOX -j route show dev IFNAME
   */
  sandboxInterface(path: string, ifname: string): Promise<SandboxInterface | undefined>;

  /**
   * True when `path` (a sandbox's namespace file, e.g. /run/netns/X or
   * /proc/PID/ns/net) is a live network namespace; false when it is absent or no
   * longer a namespace (e.g. a plain file left after an unmount). Throws when it
   * cannot tell (e.g. EACCES). Reads only.
   *
   * Equivalent to: stat -f -L -c %T PATH   (nsfs)
   */
  sandboxExists(path: string): boolean;

  /**
   * Creates or repairs the uplink of one (host, network): a veth whose host end
   * (hostIfname) is in the agent's namespace with 169.254.1.1/32 (and the exposed
   * address /32, when exposed) and whose other end is `uplink` in the network's
   * namespace with 169.254.1.2/32, both up with the MTU; routes: in the agent's
   * namespace hostSubnet (and, when exposed, the network's CIDR) via 169.254.1.2
   * onlink (with the exposed address as source when exposed), in the network's
   * namespace the default route (and the exposed address /32) via 169.254.1.1
   * onlink; when exposed, a proxy-ARP entry for the exposed address on br0 (so this
   * host's containers, for which it is on-link, get an answer) with br0's
   * proxy_delay 0. Other addresses, routes out of either end, and proxy entries on
   * br0 are removed (e.g. after unexpose). Idempotent. Throws
   * `VXNET_DATAPLANE_CONFLICT` when hostIfname exists and is not the peer of
   * `uplink` in that namespace (a device the data plane did not make); an `uplink`
   * end without its host end is replaced. On failure after the pair was created it
   * is deleted again.
   *
   * Equivalent to: ip link add VXU mtu MTU up type veth peer name uplink netns NS mtu MTU;
   * ip addr replace 169.254.1.1/32 dev VXU; ip -n NS addr replace 169.254.1.2/32 dev uplink; ip -n NS link set uplink up;
   * ip route replace HOST_SUBNET via 169.254.1.2 dev VXU onlink;
   * ip -n NS route replace default via 169.254.1.1 dev uplink onlink;
   * exposed: ip addr add EXPOSED/32 dev VXU; ip route replace NETWORK via 169.254.1.2 dev VXU onlink src EXPOSED
   * (and HOST_SUBNET … src EXPOSED); ip -n NS route replace EXPOSED/32 via 169.254.1.1 dev uplink onlink;
   * ip -n NS neigh add proxy EXPOSED dev br0; ip netns exec NS sysctl -w net.ipv4.neigh.br0.proxy_delay=0
   */
  ensureUplink(spec: UplinkSpec): Promise<void>;

  /**
   * Deletes an uplink (both ends, with their addresses and routes). Idempotent: an
   * absent interface is success. Throws `VXNET_DATAPLANE_CONFLICT` if hostIfname is
   * not a veth. The caller decides which names are its own (by record, not by name).
   *
   * Equivalent to: ip link del VXU
   */
  deleteUplink(hostIfname: string): Promise<void>;

  /**
   * Host-end names of the veths in the agent's namespace named like uplinks
   * (`vxu-…`), sorted. Names only: whether the agent made them is its records' call.
   *
   * Equivalent to: ip link show type veth | grep vxu-
   */
  listUplinks(): Promise<string[]>;

  /**
   * The IPv4 addresses of the agent's namespace with their interfaces (for checking
   * where a port may be published).
   *
   * Equivalent to: ip -4 addr show
   */
  listHostAddresses(): Promise<HostAddress[]>;

  /** Closes every netlink socket this instance opened. Kernel state is left as is. */
  close(): void;
}
