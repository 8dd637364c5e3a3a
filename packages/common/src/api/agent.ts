/**
 * Wire types of the agent's local API (unix socket, for the engine on the same host):
 *   POST   /v1/endpoints      CreateEndpointRequest -> 201 LocalEndpoint
 *   GET    /v1/endpoints      -> { endpoints: LocalEndpoint[] }
 *   DELETE /v1/endpoints/:id  -> { deleted }
 *   GET    /v1/status         -> AgentStatus
 *   POST   /v1/networks/:network/expose   -> ExposeResult (idempotent: the same address again)
 *   DELETE /v1/networks/:network/expose   -> ExposeResult (404 when the network is not exposed here)
 */
import type { EndpointRecord } from '../records.js';
import { NAME_PATTERN } from './names.js';

export interface CreateEndpointRequest {
  /** Network name, id or unique id prefix. */
  network: string;
  /** Path of the sandbox's network namespace, e.g. /run/netns/X or /proc/PID/ns/net. */
  sandbox: string;
  name: string;
  aliases?: string[];
  ip?: string;
  /** Id of the container the endpoint belongs to (default: name). */
  container?: string;
  ifname?: string;
  /**
   * Who asked for the endpoint (e.g. "engine"); a client reconciles only the endpoints
   * it owns, so several clients (engine, CNI, Docker plugin) can share one agent.
   */
  owner?: string;
  /** Ports to publish on this host to this endpoint's address (`run -p`). */
  ports?: PortRequest[];
}

export type PortProtocol = 'tcp' | 'udp';

/** A port to publish, as asked: `-p [HOST_IP:]HOST_PORT:CONTAINER_PORT[/PROTO]`. */
export interface PortRequest {
  /** Host address to publish on; absent: the host's underlay address. Must be an address of the host. */
  hostIp?: string;
  hostPort: number;
  containerPort: number;
  protocol: PortProtocol;
}

/** A published port as the agent holds it: host address resolved. */
export interface PortMapping {
  hostIp: string;
  hostPort: number;
  containerPort: number;
  protocol: PortProtocol;
}

/** The host's own address on a network (`vxnet net expose`, as weave expose). */
export interface ExposeResult {
  network: string;
  networkName: string | null;
  ip: string;
  prefixLength: number;
}

/** A local endpoint, as kept in the agent's state file and answered by the API. */
export interface LocalEndpoint extends EndpointRecord {
  networkName: string;
  sandbox: string;
  hostIfname: string;
  ifname: string;
  prefixLength: number;
  gateway: string;
  mtu: number;
  /** As asked for in CreateEndpointRequest; absent on endpoints made before owners existed. */
  owner?: string;
  /**
   * Set when the container end was handed to the runtime (Docker's Join): the name
   * it was left under in the agent's namespace. The runtime owns the sandbox then:
   * the agent never checks or enters `sandbox`, and the runtime removes the endpoint.
   */
  handoff?: string;
  /** Published ports (empty or absent: none). */
  ports?: PortMapping[];
}

export interface AgentStatus {
  host: string;
  /** Random per agent process: a client that sees it change knows the agent restarted. */
  instance: string;
  networks: Array<{
    id: string; name: string | null; subnet: string; vtepMac: string; netns: string;
    /** No way out of the overlay (net create --internal). */
    internal: boolean;
    /** This host's address on the network when exposed, else null. */
    exposedIp: string | null;
  }>;
  alivePeers: string[];
  /** Whether containers can reach beyond the overlay from this host (nftables works), and why not. */
  egress: { available: boolean; reason: string | null };
  /**
   * Whether this host can carry encrypted networks: its WireGuard backend, device,
   * public key, tunnel address and port, or why not. Public parts only. Absent from
   * agents older than encryption.
   */
  encryption?: { available: true; backend: 'kernel' | 'wireguard-go'; device: string; publicKey: string; tunnelIp: string; port: number } | { available: false; reason: string };
}

export const createEndpointBodySchema = {
  type: 'object',
  additionalProperties: false,
  required: ['network', 'sandbox', 'name'],
  properties: {
    network: { type: 'string', minLength: 1 },
    sandbox: { type: 'string', pattern: '^/' },
    name: { type: 'string', pattern: NAME_PATTERN },
    aliases: { type: 'array', items: { type: 'string', pattern: NAME_PATTERN } },
    ip: { type: 'string' },
    container: { type: 'string' },
    ifname: { type: 'string', pattern: '^[A-Za-z0-9_.-]{1,15}$' },
    owner: { type: 'string', pattern: NAME_PATTERN },
    ports: {
      type: 'array',
      maxItems: 256,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['hostPort', 'containerPort', 'protocol'],
        properties: {
          hostIp: { type: 'string' },
          hostPort: { type: 'integer', minimum: 1, maximum: 65535 },
          containerPort: { type: 'integer', minimum: 1, maximum: 65535 },
          protocol: { type: 'string', enum: ['tcp', 'udp'] },
        },
      },
    },
  },
} as const;
