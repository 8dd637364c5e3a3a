/**
 * Agent configuration: defaults -> config file (JSON) -> VXNET_* environment -> flags;
 * validated once, then frozen. The underlay address and interface are detected
 * (the first non-loopback IPv4 interface) unless given.
 */
import { networkInterfaces } from 'node:os';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { DEFAULT_STORE_PREFIX, InvalidArgument, parseIpv4 } from '@vxnet/common';

export interface AgentConfig {
  host: string;
  storeEndpoints: string[];
  storePrefix: string;
  underlayIp: string;
  underlayInterface: string;
  /** Liveness lease TTL, seconds (>= 2). */
  livenessTtl: number;
  /** Subnet lease TTL, seconds. */
  subnetLeaseTtl: number;
  /** Renew subnet leases this long before expiry, seconds. */
  renewMargin: number;
  /** Local state (subnets.json, endpoints.json, namespaces.json). */
  stateDir: string;
  /** Unix socket of the local API. */
  socket: string;
  /** Network namespaces of this agent: `${netnsPrefix}<network id prefix>`. */
  netnsPrefix: string;
  logFile: string | null;
  logLevel: string;
}

const HOST = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

export function loadConfig(argv: string[], env: NodeJS.ProcessEnv = process.env): Readonly<AgentConfig> {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      config: { type: 'string' }, host: { type: 'string' }, store: { type: 'string' }, 'store-prefix': { type: 'string' },
      'underlay-ip': { type: 'string' }, 'underlay-interface': { type: 'string' }, 'liveness-ttl': { type: 'string' },
      'subnet-lease-ttl': { type: 'string' }, 'renew-margin': { type: 'string' }, 'state-dir': { type: 'string' },
      socket: { type: 'string' }, 'netns-prefix': { type: 'string' }, 'log-file': { type: 'string' }, 'log-level': { type: 'string' },
    },
  });
  const file = values.config ? (JSON.parse(readFileSync(values.config, 'utf8')) as Partial<AgentConfig>) : {};
  const pick = <T>(flag: string | undefined, envName: string, fromFile: T | undefined, conv: (v: string) => T, dflt: () => T): T =>
    flag !== undefined ? conv(flag) : env[envName] ? conv(env[envName] as string) : fromFile !== undefined ? fromFile : dflt();
  const num = (v: string) => Number(v);
  const list = (v: string) => v.split(',').map((s) => s.trim()).filter(Boolean);
  const host = pick(values.host, 'VXNET_HOST_NAME', file.host, String, () => '');
  const detected = detectUnderlay();
  const cfg: AgentConfig = {
    host,
    storeEndpoints: pick(values.store, 'VXNET_STORE_ENDPOINTS', file.storeEndpoints, list, () => ['http://127.0.0.1:2379']),
    storePrefix: pick(values['store-prefix'], 'VXNET_STORE_PREFIX', file.storePrefix, String, () => DEFAULT_STORE_PREFIX),
    underlayIp: pick(values['underlay-ip'], 'VXNET_UNDERLAY_IP', file.underlayIp, String, () => detected?.ip ?? ''),
    underlayInterface: pick(values['underlay-interface'], 'VXNET_UNDERLAY_INTERFACE', file.underlayInterface, String, () => detected?.ifname ?? ''),
    livenessTtl: pick(values['liveness-ttl'], 'VXNET_LIVENESS_TTL', file.livenessTtl, num, () => 10),
    subnetLeaseTtl: pick(values['subnet-lease-ttl'], 'VXNET_SUBNET_LEASE_TTL', file.subnetLeaseTtl, num, () => 86_400),
    renewMargin: pick(values['renew-margin'], 'VXNET_RENEW_MARGIN', file.renewMargin, num, () => 3600),
    stateDir: pick(values['state-dir'], 'VXNET_STATE_DIR', file.stateDir, String, () => `/var/lib/vxnet/agent`),
    socket: pick(values.socket, 'VXNET_AGENT_SOCKET', file.socket, String, () => '/run/vxnet/agent.sock'),
    netnsPrefix: pick(values['netns-prefix'], 'VXNET_NETNS_PREFIX', file.netnsPrefix, String, () => 'vxnet-'),
    logFile: values['log-file'] ?? env.VXNET_LOG_FILE ?? file.logFile ?? null,
    logLevel: pick(values['log-level'], 'VXNET_LOG_LEVEL', file.logLevel, String, () => 'info'),
  };
  const problems: string[] = [];
  if (!HOST.test(cfg.host)) problems.push(`host name "${cfg.host}" is missing or invalid (--host, 1-64 characters [A-Za-z0-9_.-])`);
  if (parseIpv4(cfg.underlayIp) === undefined) problems.push(`underlay IP "${cfg.underlayIp}" is not an IPv4 address (--underlay-ip)`);
  if (!cfg.underlayInterface) problems.push('no underlay interface (--underlay-interface)');
  if (!Number.isInteger(cfg.livenessTtl) || cfg.livenessTtl < 2) problems.push(`liveness TTL ${cfg.livenessTtl} must be a whole number of seconds, at least 2`);
  if (!Number.isInteger(cfg.subnetLeaseTtl) || cfg.subnetLeaseTtl < 60) problems.push(`subnet lease TTL ${cfg.subnetLeaseTtl} must be at least 60 seconds`);
  if (!Number.isInteger(cfg.renewMargin) || cfg.renewMargin <= 0 || cfg.renewMargin >= cfg.subnetLeaseTtl) problems.push(`renew margin ${cfg.renewMargin} must be between 1 and the subnet lease TTL`);
  if (!/^[A-Za-z0-9_.-]{1,40}$/.test(cfg.netnsPrefix)) problems.push(`namespace prefix "${cfg.netnsPrefix}" must be 1-40 characters [A-Za-z0-9_.-]`);
  if (problems.length > 0) throw new InvalidArgument(`invalid agent configuration: ${problems.join('; ')}`);
  return Object.freeze(cfg);
}

/** The first up, non-internal IPv4 interface of this (network) namespace. */
export function detectUnderlay(): { ifname: string; ip: string } | undefined {
  for (const [ifname, addrs] of Object.entries(networkInterfaces())) {
    const a = addrs?.find((x) => x.family === 'IPv4' && !x.internal);
    if (a) return { ifname, ip: a.address };
  }
  return undefined;
}
