/**
 * Wire types of the controller's API (HTTP, OpenAPI at /openapi.json): what the CLI
 * and other clients send and read.
 */
import type { EndpointRecord, NetworkSpec } from '../records.js';

export interface CreateNetworkRequest {
  name: string;
  driver?: string;
  subnet?: string;
  hostSubnetLength?: number;
  vni?: number;
  mtu?: number;
  internal?: boolean;
  labels?: Record<string, string>;
  options?: Record<string, string>;
}

export interface HostOnNetwork {
  host: string;
  subnet: string;
  gateway: string;
  underlayIp: string;
  vtepMac: string;
  alive: boolean;
  /** Encrypted networks, live hosts with WireGuard: which implementation encrypts (HostWireGuard.backend). */
  encryption?: 'kernel' | 'wireguard-go';
  expiresAt: string;
  endpoints: EndpointRecord[];
}

export interface NetworkDetail {
  network: NetworkSpec;
  hosts: HostOnNetwork[];
}

export interface HostView {
  name: string;
  underlayIp: string;
  state: 'alive' | 'dead';
  agentVersion: string;
  /** Names of the networks the host joined (ids of networks that are gone are left out). */
  networks: string[];
  /** Routes the host's agent reported (see HostRecord.routes); [] from older agents. */
  routes: string[];
  registeredAt: string;
  lastSeen: string;
}

export interface LeaseView {
  network: string;
  networkId: string;
  subnet: string;
  host: string;
  underlayIp: string;
  vtepMac: string;
  acquiredAt: string;
  renewedAt: string;
  expiresAt: string;
  /** Seconds until expiry at the time of the answer (negative: past due). */
  remainingSeconds: number;
  hostAlive: boolean;
}

export interface LeaseDetail extends LeaseView {
  /** Store key of the lease record. */
  key: string;
  /** Store lease id the record is bound to (decimal), or null. */
  storeLeaseId: string | null;
  modRevision: number;
}

