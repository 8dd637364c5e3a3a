/**
 * The JSON records vxnet keeps in the store (see keys.ts for where). Written by the
 * controller (networks, allocations) and by agents (hosts, leases, endpoints); read by
 * everyone. Times are ISO 8601 strings.
 */

export const SUPPORTED_DRIVERS = ['overlay'] as const;
export type Driver = (typeof SUPPORTED_DRIVERS)[number];

export interface NetworkSpec {
  /** 64 hex characters, like Docker's network ids. */
  id: string;
  name: string;
  driver: Driver;
  /** The network's address range, canonical IPv4 CIDR. */
  subnet: string;
  /** Prefix length of the subnet each host leases from `subnet`. */
  hostSubnetLength: number;
  /** VXLAN network identifier, 1..16777215. */
  vni: number;
  /** Fixed MTU, or null: each host uses its underlay MTU - 50. */
  mtu: number | null;
  /** No route out of the network (like `docker network create --internal`). */
  internal: boolean;
  labels: Record<string, string>;
  options: Record<string, string>;
  createdAt: string;
}

/** One entry of the allocations document. */
export interface Allocation {
  id: string;
  name: string;
  vni: number;
  subnet: string;
  /** When the claim was made; an entry whose network record never appeared is reclaimed after a grace period. */
  claimedAt: string;
}

export interface Allocations {
  networks: Allocation[];
}

/** Permanent record of a host that registered at least once. */
export interface HostRecord {
  name: string;
  underlayIp: string;
  underlayInterface: string;
  agentVersion: string;
  /** Ids of the networks this host has joined. */
  networks: string[];
  /**
   * Destinations (canonical IPv4 CIDRs) of the routes in the host namespace's main
   * table that vxnet did not make, and the connected subnets of its interfaces;
   * without the default route and host-scope routes. No network may overlap them
   * while the host is alive. Absent in records of agents older than this field.
   */
  routes: string[];
  registeredAt: string;
  lastSeen: string;
}

/** Present while the host's agent holds its liveness lease. */
export interface HostAlive {
  name: string;
  underlayIp: string;
  since: string;
}

/** A host's lease on one subnet of a network. */
export interface SubnetLease {
  networkId: string;
  subnet: string;
  host: string;
  underlayIp: string;
  /** MAC of the host's VXLAN device on this network. */
  vtepMac: string;
  acquiredAt: string;
  renewedAt: string;
  expiresAt: string;
}

export interface EndpointRecord {
  id: string;
  networkId: string;
  name: string;
  aliases: string[];
  ip: string;
  mac: string;
  host: string;
  container: string;
  createdAt: string;
}
