/**
 * Wire types of the agent's local API (unix socket, for the engine on the same host):
 *   POST   /v1/endpoints      CreateEndpointRequest -> 201 LocalEndpoint
 *   GET    /v1/endpoints      -> { endpoints: LocalEndpoint[] }
 *   DELETE /v1/endpoints/:id  -> { deleted }
 *   GET    /v1/status         -> AgentStatus
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
}

export interface AgentStatus {
  host: string;
  /** Random per agent process: a client that sees it change knows the agent restarted. */
  instance: string;
  networks: Array<{ id: string; name: string | null; subnet: string; vtepMac: string; netns: string }>;
  alivePeers: string[];
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
  },
} as const;
