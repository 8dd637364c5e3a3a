/**
 * The JSON records vxnet keeps in the store (see keys.ts for where). Written by the
 * controller (networks and their claims) and by agents (hosts, leases, endpoints); read by
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
  /**
   * VXLAN between hosts goes through WireGuard (`--opt encrypted`): VTEPs use the
   * hosts' tunnel addresses (HostWireGuard.tunnelIp). Absent in records written before
   * this field: not encrypted.
   */
  encrypted?: boolean;
  labels: Record<string, string>;
  options: Record<string, string>;
  createdAt: string;
}

/**
 * Who holds a network's name, VNI or CIDR (names/networks/<name>, vnis/<vni>,
 * subnets/<bits>). A claim whose network record never appeared is reclaimed after a
 * grace period (a create that crashed half-way).
 */
export interface NetworkClaim {
  /** the network's id */
  id: string;
  /** the network's name, for error messages ("VNI 42 is used by network …") */
  name: string;
  /** ISO time the claim was made */
  claimedAt: string;
}

/**
 * A name claim: once the network is created, it also carries the network itself (the
 * record is written once and never changed), so that a page of `net ls`, by name, is
 * one range read of the name claims instead of a read per network.
 */
export interface NameClaim extends NetworkClaim {
  network?: NetworkSpec;
}

/** A CIDR claim: the CIDR itself, readable (its key holds only the bits). */
export interface SubnetClaim extends NetworkClaim {
  subnet: string;
}

/** One entry of the pre-1.x allocations document (migrated to claims at controller start). */
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

/**
 * A host's WireGuard identity, public parts only: the private key never leaves the
 * agent's state directory.
 */
export interface HostWireGuard {
  /** Curve25519 public key, standard base64 (44 characters), as `wg` prints it. */
  publicKey: string;
  /** This host's address on the WireGuard device (the VTEP `local` of encrypted networks). */
  tunnelIp: string;
  /** UDP port WireGuard listens on, on the underlay address. */
  port: number;
  /** Which implementation runs the device. */
  backend: 'kernel' | 'wireguard-go';
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
  /** Present when the host can carry encrypted networks. */
  wireguard?: HostWireGuard;
  registeredAt: string;
  lastSeen: string;
}

/** Present while the host's agent holds its liveness lease. */
export interface HostAlive {
  name: string;
  underlayIp: string;
  since: string;
  /**
   * Present when the host can carry encrypted networks: peers make it a WireGuard
   * peer while this record lives (it goes with the liveness lease).
   */
  wireguard?: HostWireGuard;
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
