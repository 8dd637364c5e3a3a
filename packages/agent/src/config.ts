/**
 * Agent configuration: its schema for the common loader (defaults < file < VXNET_*
 * environment < flags; one error listing every problem; frozen). The underlay address
 * is detected (the first up, non-internal IPv4 interface) and the interface is the one
 * holding that address, unless given.
 */
import { hostname, networkInterfaces } from 'node:os';
import {
  STORE_CONFIG, absolutePath, absolutePathOrNull, hostName, logLevel, parseCidr, parseIpv4, type ConfigSchema, type StoreConfig,
} from '@vxnet/common';
import { hostPortProblem } from '@vxnet/common/metrics';
import { DEFAULT_TUNNEL_POOL } from './wireguard/tunnel-address.js';
import { defaultDnsThreads } from './dns/dns-server.js';
import { formatUpstream, parseUpstream, upstreamsFromResolvConf } from './dns/upstreams.js';

export interface AgentConfig extends StoreConfig {
  /** This host's name in the store (`hosts/<host>`). */
  host: string;
  underlayIp: string;
  underlayInterface: string;
  /** Liveness lease TTL, seconds. */
  livenessTtl: number;
  /** Subnet lease TTL, seconds. */
  subnetLeaseTtl: number;
  /** Renew subnet leases this long before expiry, seconds. */
  renewMargin: number;
  /** Local state (subnets.json, endpoints.json, namespaces.json, uplinks.json, exposed.json, reserved.json, docker.json, wireguard.key). */
  stateDir: string;
  /** Unix socket of the local API. */
  socket: string;
  /** Resolvers for names outside the networks, `IP[:port]`; empty: none (external names get SERVFAIL). */
  dnsUpstreams: string[];
  /** DNS worker threads (each a UDP socket per served address, one SO_REUSEPORT group). */
  dnsThreads: number;
  /** Unix socket of the Docker network + IPAM plugin `vxnet` (dockerd finds it by this path); null: no Docker plugin. */
  dockerPluginSocket: string | null;
  /** dockerd's API socket, for container names (events); null: Docker containers get no DNS names from vxnet. */
  dockerSocket: string | null;
  /** WireGuard device of encrypted networks in the host namespace. */
  wireguardInterface: string;
  /** Pool of WireGuard tunnel addresses, one claimed per host (tunnels/<ip> in the store). */
  wireguardPool: string;
  /** Also serve GET /metrics on this HOST:PORT (plain HTTP, nothing else there); null: only on the API socket. */
  metricsAddr: string | null;
  logLevel: string;
  logFile: string | null;
}

export const AGENT_CONFIG: ConfigSchema<AgentConfig> = {
  host: { type: 'string', default: () => hostname(), env: 'VXNET_HOST_NAME', flag: 'host', doc: 'name of this host in the cluster (default: the system host name)', validate: hostName },
  ...STORE_CONFIG,
  underlayIp: {
    type: 'string', default: () => detectUnderlay()?.ip ?? '', env: 'VXNET_UNDERLAY_IP', flag: 'underlay-ip',
    doc: 'IPv4 address other hosts reach this one on; VXLAN packets come from it (default: the first non-loopback IPv4 address)',
    validate: (v) => (parseIpv4(v) === undefined ? 'must be an IPv4 address (none was detected: set it)' : undefined),
  },
  underlayInterface: {
    type: 'string', default: (c) => (c.underlayIp ? interfaceWith(c.underlayIp) : undefined) ?? '', env: 'VXNET_UNDERLAY_INTERFACE', flag: 'underlay-interface',
    doc: 'interface holding underlayIp (default: found from underlayIp); its MTU - 50 is the overlay MTU',
    validate: (v) => (v === '' ? 'must name the underlay interface (no interface holds underlayIp: set it)' : undefined),
  },
  livenessTtl: {
    type: 'integer', default: 10, env: 'VXNET_LIVENESS_TTL', flag: 'liveness-ttl', doc: 'seconds a dead host stays listed (its routes and names stay on peers that long)',
    validate: (v) => (v >= 2 ? undefined : 'must be at least 2 seconds'),
  },
  subnetLeaseTtl: {
    type: 'integer', default: 86_400, env: 'VXNET_SUBNET_LEASE_TTL', flag: 'subnet-lease-ttl', doc: 'seconds a subnet stays leased to this host without renewal',
    validate: (v) => (v >= 60 ? undefined : 'must be at least 60 seconds'),
  },
  renewMargin: {
    type: 'integer', default: 3600, env: 'VXNET_RENEW_MARGIN', flag: 'renew-margin', doc: 'renew subnet leases this many seconds before they expire',
    validate: (v, c) => (v >= 1 && v < c.subnetLeaseTtl ? undefined : `must be at least 1 second and less than subnetLeaseTtl (${c.subnetLeaseTtl})`),
  },
  stateDir: {
    type: 'string', default: '/var/lib/vxnet/agent', env: 'VXNET_STATE_DIR', flag: 'state-dir',
    doc: 'local state: subnets.json, endpoints.json, namespaces.json, uplinks.json, exposed.json, reserved.json, docker.json, wireguard.key', validate: absolutePath,
  },
  socket: { type: 'string', default: '/run/vxnet/agent.sock', env: 'VXNET_AGENT_SOCKET', flag: 'socket', doc: 'unix socket of the local API (the engine talks to it)', validate: absolutePath },
  dnsUpstreams: {
    type: 'string[]', default: () => upstreamsFromResolvConf().map(formatUpstream), env: 'VXNET_DNS_UPSTREAM', flag: 'dns-upstream',
    doc: 'resolvers for names outside the networks, IP[:port]; an empty list means none (default: the nameservers of /etc/resolv.conf)',
    validate: (v) => {
      const bad = v.filter((u) => parseUpstream(u) === undefined);
      return bad.length === 0 ? undefined : `must be IP[:port] entries (bad: ${bad.map((b) => `"${b}"`).join(', ')})`;
    },
  },
  dnsThreads: {
    type: 'integer', default: () => defaultDnsThreads(), env: 'VXNET_DNS_THREADS', flag: 'dns-threads',
    doc: 'threads answering DNS, each ~10-18 MB (default: 1 on up to 3 CPUs, 2 from 4; bench/results/dns.md)',
    validate: (v) => (v >= 1 && v <= 16 ? undefined : 'must be 1 to 16'),
  },
  dockerPluginSocket: {
    type: 'string|null', default: '/run/docker/plugins/vxnet.sock', env: 'VXNET_DOCKER_PLUGIN_SOCKET', flag: 'docker-plugin-socket',
    doc: 'unix socket of the Docker network and IPAM plugin "vxnet" (dockerd looks in /run/docker/plugins); "" or null: no Docker plugin',
    validate: absolutePathOrNull,
  },
  dockerSocket: {
    type: 'string|null', default: '/run/docker.sock', env: 'VXNET_DOCKER_SOCKET', flag: 'docker-socket',
    doc: "dockerd's API socket: container names and aliases for vxnet's DNS come from its events; \"\" or null: none",
    validate: absolutePathOrNull,
  },
  wireguardInterface: {
    type: 'string', default: 'vxwg0', env: 'VXNET_WIREGUARD_INTERFACE', flag: 'wireguard-interface',
    doc: 'WireGuard device of encrypted networks in the host namespace (its private key: STATE_DIR/wireguard.key, 0600)',
    validate: (v) => (/^[A-Za-z0-9_.-]{1,15}$/.test(v) ? undefined : 'must be an interface name of 1-15 characters [A-Za-z0-9_.-]'),
  },
  wireguardPool: {
    type: 'string', default: DEFAULT_TUNNEL_POOL, env: 'VXNET_WIREGUARD_POOL', flag: 'wireguard-pool',
    doc: 'IPv4 CIDR each host claims its WireGuard tunnel address from (the same on every host; no network may overlap it)',
    validate: (v) => {
      try {
        const c = parseCidr(v, 'WireGuard pool');
        return c.prefixLength <= 30 ? undefined : 'must be a CIDR of at least 4 addresses (/30 or shorter)';
      } catch (err) {
        return (err as Error).message;
      }
    },
  },
  metricsAddr: {
    type: 'string|null', default: null, env: 'VXNET_METRICS_ADDR', flag: 'metrics-addr',
    doc: 'also serve GET /metrics (Prometheus, no auth) on this HOST:PORT; null (the default): only on the API socket',
    validate: (v) => (v === null ? undefined : hostPortProblem(v)),
  },
  logLevel: { type: 'string', default: 'info', env: 'VXNET_LOG_LEVEL', flag: 'log-level', doc: 'log level', validate: logLevel },
  logFile: { type: 'string|null', default: null, env: 'VXNET_LOG_FILE', flag: 'log-file', doc: 'log to this file instead of stdout', validate: absolutePathOrNull },
};

/** The first up, non-internal IPv4 interface of this (network) namespace. */
export function detectUnderlay(): { ifname: string; ip: string } | undefined {
  for (const [ifname, addrs] of Object.entries(networkInterfaces())) {
    const a = addrs?.find((x) => x.family === 'IPv4' && !x.internal);
    if (a) return { ifname, ip: a.address };
  }
  return undefined;
}

/** The interface of this namespace that holds `ip`. */
function interfaceWith(ip: string): string | undefined {
  return Object.entries(networkInterfaces()).find(([, addrs]) => addrs?.some((a) => a.family === 'IPv4' && a.address === ip))?.[0];
}
