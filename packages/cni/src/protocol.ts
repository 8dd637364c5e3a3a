/**
 * The CNI protocol as vxnet speaks it (containernetworking/cni SPEC.md, spec 1.0.0
 * and 1.1.0, with the 0.3.1/0.4.0 result format for older runtimes): what a runtime
 * passes (environment + the network configuration on stdin), the results and errors
 * a plugin prints, the versions. Pure: no I/O, no dependencies, so the executable
 * (main.ts) loads nothing else, and the agent formats its answers with the same code.
 *
 * Traps handled here (shared/notes/interop.md part B): C4 (only the versions listed
 * are accepted, the answer is in the version asked), C5 (every route carries `gw`),
 * C7 (unknown configuration keys are ignored; unknown CNI_ARGS keys too when
 * IgnoreUnknown is set).
 */

/** The versions vxnet accepts and answers in; anything else is error code 1. */
export const CNI_VERSIONS = ['0.3.1', '0.4.0', '1.0.0', '1.1.0'] as const;
export type CniVersion = (typeof CNI_VERSIONS)[number];
/** The version `vxnet cni install` writes (Debian's libcni 1.1.2, podman's, speaks at most 1.0.0). */
export const CNI_CONFIG_VERSION: CniVersion = '1.0.0';

export const CNI_COMMANDS = ['ADD', 'DEL', 'CHECK', 'VERSION', 'STATUS', 'GC'] as const;
export type CniCommand = (typeof CNI_COMMANDS)[number];

/** Where the agent's local API is, unless the configuration says `agentSocket`. */
export const DEFAULT_AGENT_SOCKET = '/run/vxnet/agent.sock';

/** The owner of the agent endpoints made through CNI (CreateEndpointRequest.owner). */
export const CNI_OWNER = 'cni';

/** Error codes: the spec's well-known ones (0–99), then vxnet's own (100+). */
export const CniCode = {
  IncompatibleVersion: 1,
  UnsupportedField: 2,
  UnknownContainer: 3,
  InvalidEnvironment: 4,
  IoFailure: 5,
  DecodeFailure: 6,
  InvalidConfig: 7,
  TryAgainLater: 11,
  /** STATUS: the plugin cannot add containers now. */
  NotAvailable: 50,
  /** The container already has this interface (a second ADD), or the sandbox has an interface by that name. */
  InterfaceExists: 100,
  /** The container's name or an alias is another container's on this network. */
  NameTaken: 101,
  /** The requested address is outside this host's subnet or in use, or none is left. */
  AddressUnavailable: 102,
  /** CHECK: the kernel does not hold what the previous result says. */
  CheckFailed: 103,
  /** Anything else the agent could not do (its message says what). */
  Failed: 199,
} as const;

/** An error as printed on stdout (with a non-zero exit). */
export interface CniErrorBody {
  cniVersion: string;
  code: number;
  msg: string;
  details?: string;
}

export class CniError extends Error {
  constructor(readonly code: number, readonly msg: string, readonly details?: string) {
    super(msg);
    this.name = 'CniError';
  }

  body(cniVersion: string): CniErrorBody {
    return { cniVersion, code: this.code, msg: this.msg, ...(this.details ? { details: this.details } : {}) };
  }
}

/** `cni.dev/valid-attachments` of a GC call. */
export interface CniAttachment {
  containerID: string;
  ifname: string;
}

/** The network configuration, as far as vxnet reads it; other keys are ignored (trap C7). */
export interface CniNetConf {
  cniVersion: CniVersion;
  /** The network configuration's name (the runtime's network name). */
  name: string;
  type: string;
  /** The vxnet network: name, id or unique id prefix (default: `name`). */
  network: string;
  /** The agent's socket (default DEFAULT_AGENT_SOCKET). */
  agentSocket?: string;
  runtimeConfig?: {
    /** `aliases` capability: network name -> names (podman: --network-alias and the short id). */
    aliases?: Record<string, string[]>;
    /** `ips` capability: requested addresses, `A.B.C.D/LEN` or `A.B.C.D`. */
    ips?: string[];
  };
  prevResult?: unknown;
  'cni.dev/valid-attachments'?: CniAttachment[];
}

/** One call, as the runtime made it: the environment's CNI_* variables and the configuration. */
export interface CniCall {
  command: CniCommand;
  containerId?: string;
  netns?: string;
  ifname?: string;
  /** CNI_ARGS, parsed (K=V;K=V). */
  args: Record<string, string>;
  config: CniNetConf;
}

/** A result in vxnet's neutral form (spec 1.1.0's fields vxnet fills); formatResult turns it into the version asked. */
export interface CniResult {
  interfaces: Array<{ name: string; mac: string; mtu?: number; sandbox?: string }>;
  ips: Array<{ address: string; gateway: string; interface: number }>;
  routes: Array<{ dst: string; gw: string }>;
  dns: { nameservers: string[]; search?: string[] };
}

/** CNI_ARGS keys vxnet reads (K8S_POD_NAME; IP, host-local's static address, which podman sends for --ip) or that runtimes commonly send (never an error). */
const KNOWN_ARGS = new Set(['IgnoreUnknown', 'IP', 'K8S_POD_NAME', 'K8S_POD_NAMESPACE', 'K8S_POD_INFRA_CONTAINER_ID', 'K8S_POD_UID']);

export function isCniVersion(v: unknown): v is CniVersion {
  return typeof v === 'string' && (CNI_VERSIONS as readonly string[]).includes(v);
}

/** The version to answer errors in: the configuration's when it is one vxnet speaks, else the newest. */
export function answerVersion(stdin: string): CniVersion {
  try {
    const v = (JSON.parse(stdin) as { cniVersion?: unknown }).cniVersion;
    return isCniVersion(v) ? v : '1.1.0';
  } catch {
    return '1.1.0';
  }
}

/** VERSION's answer. */
export function versionAnswer(asked: string): { cniVersion: string; supportedVersions: string[] } {
  return { cniVersion: isCniVersion(asked) ? asked : '1.1.0', supportedVersions: [...CNI_VERSIONS] };
}

/** `K=V;K=V` -> record. Throws CniError 4 for an entry without `=`, 2 for an unknown key without IgnoreUnknown. */
export function parseCniArgs(text: string | undefined): Record<string, string> {
  const args: Record<string, string> = {};
  if (!text) return args;
  for (const part of text.split(';')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    if (eq <= 0) throw new CniError(CniCode.InvalidEnvironment, `invalid CNI_ARGS entry "${part}": expected KEY=VALUE`);
    args[part.slice(0, eq)] = part.slice(eq + 1);
  }
  const ignore = ['1', 'true'].includes((args.IgnoreUnknown ?? '').toLowerCase());
  if (!ignore) {
    const unknown = Object.keys(args).filter((k) => !KNOWN_ARGS.has(k));
    if (unknown.length > 0) throw new CniError(CniCode.UnsupportedField, `unknown CNI_ARGS key ${unknown.map((k) => `"${k}"`).join(', ')} (vxnet reads K8S_POD_NAME; set IgnoreUnknown=1 to pass others)`);
  }
  return args;
}

const ENV_NEEDED: Record<CniCommand, Array<'CNI_CONTAINERID' | 'CNI_NETNS' | 'CNI_IFNAME'>> = {
  ADD: ['CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME'],
  CHECK: ['CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME'],
  DEL: ['CNI_CONTAINERID', 'CNI_IFNAME'],
  VERSION: [],
  STATUS: [],
  GC: [],
};

const CONTAINER_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;
const IFNAME = /^[A-Za-z0-9_.-]{1,15}$/;

/**
 * Reads one call from the environment and stdin, checking what the spec requires
 * (the command, the CNI_* variables it needs, the configuration's version, name and
 * type). Throws CniError with the spec's code for each problem.
 */
export function parseCall(env: Record<string, string | undefined>, stdin: string): CniCall {
  const command = env.CNI_COMMAND;
  if (!command) throw new CniError(CniCode.InvalidEnvironment, 'CNI_COMMAND is not set (a CNI runtime sets it to ADD, DEL, CHECK, VERSION, STATUS or GC)');
  if (!(CNI_COMMANDS as readonly string[]).includes(command)) throw new CniError(CniCode.InvalidEnvironment, `unknown CNI_COMMAND "${command}" (ADD, DEL, CHECK, VERSION, STATUS or GC)`);
  const cmd = command as CniCommand;
  // only the variables a command uses are read (podman runs VERSION with CNI_NETNS=dummy)
  const needed = ENV_NEEDED[cmd];
  for (const name of needed) {
    if (!env[name]) throw new CniError(CniCode.InvalidEnvironment, `${name} is not set (${cmd} needs it)`);
  }
  const containerId = needed.includes('CNI_CONTAINERID') ? env.CNI_CONTAINERID : undefined;
  if (containerId !== undefined && !CONTAINER_ID.test(containerId)) throw new CniError(CniCode.InvalidEnvironment, `invalid CNI_CONTAINERID "${containerId}": letters, digits, '_', '.', '-'`);
  const ifname = needed.includes('CNI_IFNAME') ? env.CNI_IFNAME : undefined;
  if (ifname !== undefined && !IFNAME.test(ifname)) throw new CniError(CniCode.InvalidEnvironment, `invalid CNI_IFNAME "${ifname}": 1-15 letters, digits, '_', '.', '-'`);
  const netns = needed.includes('CNI_NETNS') ? env.CNI_NETNS : undefined;
  if (netns !== undefined && !netns.startsWith('/')) throw new CniError(CniCode.InvalidEnvironment, `invalid CNI_NETNS "${netns}": must be an absolute path`);

  let raw: unknown;
  try {
    raw = JSON.parse(stdin);
  } catch (err) {
    throw new CniError(CniCode.DecodeFailure, `cannot decode the network configuration on stdin: ${(err as Error).message}`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new CniError(CniCode.DecodeFailure, 'the network configuration on stdin is not a JSON object');
  const conf = raw as Record<string, unknown>;
  if (!isCniVersion(conf.cniVersion)) {
    throw new CniError(CniCode.IncompatibleVersion, `incompatible CNI version "${String(conf.cniVersion)}": vxnet supports ${CNI_VERSIONS.join(', ')}`);
  }
  if (cmd === 'VERSION') return { command: cmd, args: {}, config: conf as unknown as CniNetConf };
  const name = conf.name;
  if (typeof name !== 'string' || name === '') throw new CniError(CniCode.InvalidConfig, 'the network configuration has no "name"');
  const network = conf.network ?? name;
  if (typeof network !== 'string' || network === '') throw new CniError(CniCode.InvalidConfig, '"network" must be the name of a vxnet network');
  if (conf.agentSocket !== undefined && (typeof conf.agentSocket !== 'string' || !conf.agentSocket.startsWith('/'))) {
    throw new CniError(CniCode.InvalidConfig, '"agentSocket" must be an absolute path');
  }
  if (cmd === 'CHECK' && conf.cniVersion === '0.3.1') throw new CniError(CniCode.IncompatibleVersion, 'configuration version 0.3.1 does not allow CHECK (0.4.0 or later)');
  const rc = conf.runtimeConfig;
  if (rc !== undefined && (typeof rc !== 'object' || rc === null)) throw new CniError(CniCode.InvalidConfig, '"runtimeConfig" must be an object');
  const valid = conf['cni.dev/valid-attachments'];
  if (valid !== undefined && (!Array.isArray(valid) || !valid.every((a) => typeof a === 'object' && a !== null && typeof a.containerID === 'string' && typeof a.ifname === 'string'))) {
    throw new CniError(CniCode.InvalidConfig, '"cni.dev/valid-attachments" must be a list of {containerID, ifname}');
  }
  return {
    command: cmd,
    ...(containerId !== undefined ? { containerId } : {}),
    ...(netns !== undefined ? { netns } : {}),
    ...(ifname !== undefined ? { ifname } : {}),
    args: parseCniArgs(env.CNI_ARGS),
    config: { ...(conf as unknown as CniNetConf), network },
  };
}

/** `result` in the format of `version` (0.3.1/0.4.0 add `version: "4"` to ips; interface MTU only from 1.1.0). */
export function formatResult(result: CniResult, version: CniVersion): Record<string, unknown> {
  const legacy = version === '0.3.1' || version === '0.4.0';
  const modern11 = version === '1.1.0';
  return {
    cniVersion: version,
    interfaces: result.interfaces.map((i) => ({ name: i.name, mac: i.mac, ...(modern11 && i.mtu !== undefined ? { mtu: i.mtu } : {}), ...(i.sandbox !== undefined ? { sandbox: i.sandbox } : {}) })),
    ips: result.ips.map((ip) => ({ ...(legacy ? { version: '4' } : {}), address: ip.address, gateway: ip.gateway, interface: ip.interface })),
    routes: result.routes.map((r) => ({ dst: r.dst, gw: r.gw })),
    dns: { nameservers: [...result.dns.nameservers], ...(result.dns.search?.length ? { search: [...result.dns.search] } : {}) },
  };
}

/** What a previous result (any version) says about interfaces and addresses; absent fields are empty. */
export function readPrevResult(prev: unknown): { interfaces: Array<{ name?: string; mac?: string; sandbox?: string }>; ips: Array<{ address: string; interface?: number }> } {
  if (typeof prev !== 'object' || prev === null) return { interfaces: [], ips: [] };
  const p = prev as { interfaces?: unknown; ips?: unknown };
  const interfaces = Array.isArray(p.interfaces) ? p.interfaces.filter((i): i is { name?: string; mac?: string; sandbox?: string } => typeof i === 'object' && i !== null) : [];
  const ips = Array.isArray(p.ips)
    ? p.ips.filter((i): i is { address: string; interface?: number } => typeof i === 'object' && i !== null && typeof (i as { address?: unknown }).address === 'string')
    : [];
  return { interfaces, ips };
}
