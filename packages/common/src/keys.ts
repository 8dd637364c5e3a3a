/**
 * The store key layout, under a configurable prefix (default `/vxnet/`):
 *
 *   allocations                  one document: name, VNI and CIDR of every network (see below)
 *   networks/<id>                NetworkSpec
 *   hosts/<host>                 HostRecord, permanent (host ls shows hosts that ever registered)
 *   alive/<host>                 HostAlive, bound to the agent's liveness lease (seconds)
 *   leases/<netId>/<subnet>      SubnetLease, bound to a long subnet lease (hours, renewed)
 *   endpoints/<netId>/<epId>     EndpointRecord, bound to the host's liveness lease
 *   tunnels/<ip>                 host name holding WireGuard tunnel address <ip>, permanent (create-if-absent claims it)
 *
 * Why one `allocations` document instead of a key per name, VNI and address block:
 * a network needs three unique things at once (name, VNI, a CIDR that overlaps no
 * other), and CIDRs of different sizes cannot be made unique with create-if-absent on
 * per-block keys. One compare-and-put of one document claims all three atomically, so
 * two controllers racing can never hand out overlapping subnets or the same VNI, and a
 * failed create leaves nothing half-claimed. It costs one read + one CAS per create;
 * at ~100 bytes per network it stays far below etcd's 1.5 MiB request limit for
 * thousands of networks.
 *
 * Subnets appear in keys with '/' replaced by '_' (10.1.2.0_24) so that prefix listing
 * of leases/<netId>/ stays one level deep.
 */
export const DEFAULT_STORE_PREFIX = '/vxnet/';

export function subnetToKey(cidr: string): string {
  return cidr.replace('/', '_');
}

export function subnetFromKey(part: string): string {
  return part.replace('_', '/');
}

/** Key builders bound to one prefix. */
export function keys(prefix = DEFAULT_STORE_PREFIX) {
  const p = prefix.endsWith('/') ? prefix : `${prefix}/`;
  return {
    prefix: p,
    allocations: `${p}allocations`,
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
