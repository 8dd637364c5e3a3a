/**
 * The store key layout, under a configurable prefix (default `/vxnet/`):
 *
 *   networks/<id>                NetworkSpec (written last: a network exists once its record does)
 *   names/networks/<name>        NameClaim: the network holding the name, and once created the
 *                                network itself (net ls pages over these keys: one range read a page)
 *   vnis/<vni>                   NetworkClaim: the network holding the VNI (decimal)
 *   subnets/<bits>               SubnetClaim: the network holding the CIDR; <bits> is the
 *                                network prefix as a string of 0/1, prefix-length long (below)
 *   cursors/vni, cursors/subnet  hints: where the next automatic VNI / default-pool block search starts
 *   allocations                  the pre-1.x document of every claim, migrated away at controller start
 *   hosts/<host>                 HostRecord, permanent (host ls shows hosts that ever registered)
 *   alive/<host>                 HostAlive, bound to the agent's liveness lease (seconds)
 *   leases/<netId>/<subnet>      SubnetLease, bound to a long subnet lease (hours, renewed)
 *   endpoints/<netId>/<epId>     EndpointRecord, bound to the host's liveness lease
 *   tunnels/<ip>                 host name holding WireGuard tunnel address <ip>, permanent (create-if-absent claims it)
 *
 * Why one key per claim (it was one `allocations` document, read and compare-and-put
 * whole by every create: 1.5 MB per create at 10,000 networks): each name, VNI and CIDR
 * is claimed by create-if-absent of its own key, so two controllers racing for the same
 * one get one winner from the store itself, and a create reads only what it claims.
 *
 * CIDRs of different sizes overlap without sharing a key, hence the bit-string keys: two
 * CIDRs overlap exactly when one's bit string is a prefix of the other's, so the claims
 * overlapping 10.128.0.0/16 are the keys under subnets/0000101010000000 (inside it) and
 * the at most 15 keys that are prefixes of it (around it). The controller creates its
 * key first and then looks at those; of two overlapping claims the one created at the
 * lower store revision wins (see controller/src/network/claims.ts).
 *
 * Subnets appear in lease keys with '/' replaced by '_' (10.1.2.0_24) so that prefix listing
 * of leases/<netId>/ stays one level deep.
 */
export const DEFAULT_STORE_PREFIX = '/vxnet/';

export function subnetToKey(cidr: string): string {
  return cidr.replace('/', '_');
}

export function subnetFromKey(part: string): string {
  return part.replace('_', '/');
}

/** The bit string of an IPv4 network address's first `prefixLength` bits (subnets/<bits>). */
export function subnetBits(network: number, prefixLength: number): string {
  return (network >>> 0).toString(2).padStart(32, '0').slice(0, prefixLength);
}

/** Key builders bound to one prefix. */
export function keys(prefix = DEFAULT_STORE_PREFIX) {
  const p = prefix.endsWith('/') ? prefix : `${prefix}/`;
  return {
    prefix: p,
    /** the pre-1.x allocations document, read only to migrate it */
    allocations: `${p}allocations`,
    networkNames: `${p}names/networks/`,
    networkName: (name: string) => `${p}names/networks/${name}`,
    vnis: `${p}vnis/`,
    vni: (vni: number) => `${p}vnis/${vni}`,
    subnetClaims: `${p}subnets/`,
    /** the claim of network address `network` (an unsigned 32-bit integer) / `prefixLength` */
    subnetClaim: (network: number, prefixLength: number) => `${p}subnets/${subnetBits(network, prefixLength)}`,
    vniCursor: `${p}cursors/vni`,
    subnetCursor: `${p}cursors/subnet`,
    networks: `${p}networks/`,
    network: (id: string) => `${p}networks/${id}`,
    hosts: `${p}hosts/`,
    host: (name: string) => `${p}hosts/${name}`,
    alive: `${p}alive/`,
    hostAlive: (name: string) => `${p}alive/${name}`,
    leases: `${p}leases/`,
    networkLeases: (netId: string) => `${p}leases/${netId}/`,
    lease: (netId: string, subnet: string) => `${p}leases/${netId}/${subnetToKey(subnet)}`,
    endpoints: `${p}endpoints/`,
    networkEndpoints: (netId: string) => `${p}endpoints/${netId}/`,
    endpoint: (netId: string, epId: string) => `${p}endpoints/${netId}/${epId}`,
    tunnels: `${p}tunnels/`,
    tunnel: (ip: string) => `${p}tunnels/${ip}`,
  };
}

export type Keys = ReturnType<typeof keys>;
