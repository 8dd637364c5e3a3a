/**
 * JSON schemas of the API. Bodies are checked for shape here (types, unknown fields);
 * ranges and formats are checked by the policy code so that its messages, which say
 * what and why, reach the user.
 */
const stringMap = { type: 'object', additionalProperties: { type: 'string' } } as const;

export const errorSchema = {
  $id: 'Error',
  type: 'object',
  properties: { code: { type: 'string' }, message: { type: 'string' } },
  required: ['code', 'message'],
} as const;

export const networkSchema = {
  $id: 'Network',
  type: 'object',
  properties: {
    id: { type: 'string' },
    name: { type: 'string' },
    driver: { type: 'string' },
    subnet: { type: 'string' },
    hostSubnetLength: { type: 'integer' },
    vni: { type: 'integer' },
    mtu: { type: ['integer', 'null'] },
    internal: { type: 'boolean' },
    encrypted: { type: 'boolean', description: 'VXLAN between hosts goes through WireGuard (--opt encrypted); absent: no' },
    labels: stringMap,
    options: stringMap,
    createdAt: { type: 'string' },
  },
  required: ['id', 'name', 'driver', 'subnet', 'hostSubnetLength', 'vni', 'mtu', 'internal', 'labels', 'options', 'createdAt'],
} as const;

export const endpointSchema = {
  $id: 'Endpoint',
  type: 'object',
  properties: {
    id: { type: 'string' },
    networkId: { type: 'string' },
    name: { type: 'string' },
    aliases: { type: 'array', items: { type: 'string' } },
    ip: { type: 'string' },
    mac: { type: 'string' },
    host: { type: 'string' },
    container: { type: 'string' },
    createdAt: { type: 'string' },
  },
} as const;

export const createNetworkBody = {
  type: 'object',
  additionalProperties: false,
  required: ['name'],
  properties: {
    name: { type: 'string' },
    driver: { type: 'string' },
    subnet: { type: 'string' },
    hostSubnetLength: { type: 'integer' },
    vni: { type: 'integer' },
    mtu: { type: 'integer' },
    internal: { type: 'boolean' },
    labels: stringMap,
    options: stringMap,
  },
} as const;

export const networkDetailSchema = {
  type: 'object',
  properties: {
    network: { $ref: 'Network#' },
    hosts: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          host: { type: 'string' },
          subnet: { type: 'string' },
          gateway: { type: 'string' },
          underlayIp: { type: 'string' },
          vtepMac: { type: 'string' },
          alive: { type: 'boolean' },
          encryption: { type: 'string', enum: ['kernel', 'wireguard-go'], description: "encrypted networks: the host's WireGuard implementation" },
          expiresAt: { type: 'string' },
          endpoints: { type: 'array', items: { $ref: 'Endpoint#' } },
        },
      },
    },
  },
} as const;

export const hostSchema = {
  $id: 'Host',
  type: 'object',
  properties: {
    name: { type: 'string' },
    underlayIp: { type: 'string' },
    state: { type: 'string', enum: ['alive', 'dead'] },
    agentVersion: { type: 'string' },
    networks: { type: 'array', items: { type: 'string' } },
    routes: { type: 'array', items: { type: 'string' }, description: 'routes of the host namespace that vxnet did not make; no network may overlap them' },
    registeredAt: { type: 'string' },
    lastSeen: { type: 'string' },
  },
} as const;

const leaseProperties = {
  network: { type: 'string' },
  networkId: { type: 'string' },
  subnet: { type: 'string' },
  host: { type: 'string' },
  underlayIp: { type: 'string' },
  vtepMac: { type: 'string' },
  acquiredAt: { type: 'string' },
  renewedAt: { type: 'string' },
  expiresAt: { type: 'string' },
  remainingSeconds: { type: 'integer' },
  hostAlive: { type: 'boolean' },
} as const;

export const leaseSchema = { $id: 'Lease', type: 'object', properties: leaseProperties } as const;

export const leaseDetailSchema = {
  type: 'object',
  properties: {
    ...leaseProperties,
    key: { type: 'string' },
    storeLeaseId: { type: ['string', 'null'] },
    modRevision: { type: 'integer' },
  },
} as const;

/** Responses every route may give besides its success. */
export const errorResponses = {
  400: { $ref: 'Error#' },
  401: { $ref: 'Error#' },
  404: { $ref: 'Error#' },
  409: { $ref: 'Error#' },
  500: { $ref: 'Error#' },
  503: { $ref: 'Error#' },
} as const;
