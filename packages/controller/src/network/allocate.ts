/**
 * Allocation policy for new networks: pure functions over the allocations document,
 * so the same rules hold whichever controller runs them and tests need no store.
 */
import { excludeCidr } from 'cidr-tools';
import {
  InvalidArgument, RESERVED_RANGES, SUPPORTED_DRIVERS, cidrsOverlap, formatIpv4, parseCidr, type Allocation, type Cidr, type Driver,
} from '@vxnet/common';
import { NAME_RE, type CreateNetworkRequest } from '@vxnet/common/api';
import { NetworkNameTaken, PoolExhausted, SubnetOverlap, UnsupportedDriver, VniInUse } from '../errors.js';

export const VNI_MIN = 1;
export const VNI_MAX = 16_777_215;
/** Automatic VNIs start here, leaving the low range to users who pick their own. */
export const VNI_AUTO_START = 4096;
export const DEFAULT_HOST_SUBNET_LENGTH = 24;
/** A network must hold at least this many host subnets. */
export const MIN_HOST_SUBNETS = 4;

const LABEL_KEY = /^[A-Za-z0-9][A-Za-z0-9_.\/-]{0,127}$/;
const MTU_MIN = 576;
const MTU_MAX = 9000;

export interface ValidRequest {
  name: string;
  driver: Driver;
  subnet: Cidr | undefined;
  hostSubnetLength: number;
  vni: number | undefined;
  mtu: number | null;
  internal: boolean;
  /** `--opt encrypted` (see encryptedOption). */
  encrypted: boolean;
  labels: Record<string, string>;
  options: Record<string, string>;
}

/** The option that asks for an encrypted network, Docker's spelling (`--opt encrypted`). */
export const ENCRYPTED_OPTION = 'encrypted';
const YES = ['', 'true', 'yes', '1'];
const NO = ['false', 'no', '0'];

/**
 * Whether `options` ask for encryption: `encrypted` absent, or false/no/0: no;
 * present empty (`--opt encrypted=`, Docker's `--opt encrypted`), true/yes/1: yes.
 * Anything else is a problem (returned as text): a typo must never give a plaintext
 * network to someone who asked for an encrypted one.
 */
export function encryptedOption(options: Record<string, string> | undefined): boolean | string {
  const v = options?.[ENCRYPTED_OPTION];
  if (v === undefined) return false;
  const lower = typeof v === 'string' ? v.toLowerCase() : '';
  if (YES.includes(lower)) return true;
  if (NO.includes(lower)) return false;
  return `invalid option ${ENCRYPTED_OPTION}="${String(v)}": use encrypted (or encrypted=true) to encrypt the network's traffic between hosts, encrypted=false not to`;
}

/** Ranges no network may overlap, each with the reason shown to the user. */
export interface ExcludedRange {
  cidr: string;
  reason: string;
}

export interface PoolConfig {
  /** Where networks without --subnet come from, e.g. 10.128.0.0/9. */
  defaultPool: string;
  /** Size of each block cut from the pool, e.g. 16. */
  defaultBlockLength: number;
  /** Configured ranges (the underlay, --excluded); the reserved ranges of common are always added. */
  excluded: ExcludedRange[];
}

/**
 * A route (or connected subnet) of a live host that vxnet did not make, as its agent
 * reports it. A network overlapping it would shadow it: that host would send the
 * network's traffic where the route points, or the route's traffic into the network.
 */
export interface HostRoute {
  host: string;
  /** Destination, canonical IPv4 CIDR. */
  cidr: string;
}

export function isValidNetworkName(name: string): boolean {
  return NAME_RE.test(name);
}

/** Check a create request on its own (no store); throws one InvalidArgument listing every problem. */
export function validateCreateRequest(req: CreateNetworkRequest): ValidRequest {
  const problems: string[] = [];
  const name = req.name;
  if (!NAME_RE.test(name)) problems.push(`invalid network name "${name}": use 1-64 characters [A-Za-z0-9_.-], starting with a letter or digit`);
  const driver = req.driver ?? 'overlay';
  if (!(SUPPORTED_DRIVERS as readonly string[]).includes(driver)) {
    throw new UnsupportedDriver(name, driver, SUPPORTED_DRIVERS.join(', '));
  }
  let subnet: Cidr | undefined;
  if (req.subnet !== undefined) {
    try {
      subnet = parseCidr(req.subnet, 'subnet');
    } catch (err) {
      problems.push((err as Error).message);
    }
  }
  const hostSubnetLength = req.hostSubnetLength ?? DEFAULT_HOST_SUBNET_LENGTH;
  if (!Number.isInteger(hostSubnetLength) || hostSubnetLength < 1 || hostSubnetLength > 30) {
    problems.push(`invalid host subnet length ${hostSubnetLength}: use 1-30 (a host subnet needs a gateway and at least one container address)`);
  } else if (subnet && hostSubnetLength - subnet.prefixLength < 2) {
    const n = hostSubnetLength < subnet.prefixLength ? 0 : 2 ** (hostSubnetLength - subnet.prefixLength);
    problems.push(`subnet ${subnet.text} holds ${n} host subnet(s) of /${hostSubnetLength}; a network needs at least ${MIN_HOST_SUBNETS} (use a larger subnet or a longer --host-subnet-len)`);
  }
  if (req.vni !== undefined && (!Number.isInteger(req.vni) || req.vni < VNI_MIN || req.vni > VNI_MAX)) {
    problems.push(`invalid VNI ${req.vni}: must be ${VNI_MIN}-${VNI_MAX}`);
  }
  if (req.mtu !== undefined && (!Number.isInteger(req.mtu) || req.mtu < MTU_MIN || req.mtu > MTU_MAX)) {
    problems.push(`invalid MTU ${req.mtu}: must be ${MTU_MIN}-${MTU_MAX}`);
  }
  for (const [what, map] of [['label', req.labels], ['option', req.options]] as const) {
    for (const [k, v] of Object.entries(map ?? {})) {
      if (!LABEL_KEY.test(k)) problems.push(`invalid ${what} key "${k}": use 1-128 characters [A-Za-z0-9_./-], starting with a letter or digit`);
      if (typeof v !== 'string' || v.length > 1024) problems.push(`invalid ${what} value for "${k}": a string of at most 1024 characters`);
    }
  }
  const encrypted = encryptedOption(req.options);
  if (typeof encrypted === 'string') problems.push(encrypted);
  if (problems.length > 0) throw new InvalidArgument(problems.join('; '));
  return {
    name,
    driver: driver as Driver,
    subnet,
    hostSubnetLength,
    vni: req.vni,
    mtu: req.mtu ?? null,
    internal: req.internal ?? false,
    encrypted: encrypted === true,
    labels: { ...(req.labels ?? {}) },
    options: { ...(req.options ?? {}) },
  };
}

/**
 * Decide the subnet and VNI of a new network against what is allocated, the reserved
 * and configured ranges, and the routes of live hosts. An explicit subnet overlapping
 * any of them is refused; the default pool skips them. Throws NetworkNameTaken,
 * VniInUse, SubnetOverlap or PoolExhausted.
 */
export function allocate(existing: Allocation[], req: ValidRequest, pool: PoolConfig, hostRoutes: readonly HostRoute[] = []): { subnet: string; vni: number } {
  const taken = existing.find((a) => a.name === req.name);
  if (taken) throw new NetworkNameTaken(req.name, taken.id.slice(0, 12));

  let vni = req.vni;
  const vnis = new Set(existing.map((a) => a.vni));
  if (vni !== undefined) {
    const owner = existing.find((a) => a.vni === vni);
    if (owner) throw new VniInUse(req.name, String(vni), owner.name);
  } else {
    vni = VNI_AUTO_START;
    while (vnis.has(vni) && vni <= VNI_MAX) vni++;
    if (vni > VNI_MAX) throw new PoolExhausted(req.name, `no free VNI left in ${VNI_AUTO_START}-${VNI_MAX}`);
  }

  const excluded = [...RESERVED_RANGES, ...pool.excluded];
  if (req.subnet) {
    const subnet = req.subnet;
    for (const a of existing) {
      if (cidrsOverlap(subnet, parseCidr(a.subnet))) throw new SubnetOverlap(req.name, subnet.text, `network "${a.name}" (${a.subnet})`);
    }
    for (const e of excluded) {
      if (cidrsOverlap(subnet, parseCidr(e.cidr, 'excluded range'))) throw new SubnetOverlap(req.name, subnet.text, `${e.cidr} (${e.reason})`);
    }
    for (const r of hostRoutes) {
      if (cidrsOverlap(subnet, parseCidr(r.cidr, 'host route'))) throw new SubnetOverlap(req.name, subnet.text, `route ${r.cidr} on host ${r.host}`);
    }
    return { subnet: subnet.text, vni };
  }

  const block = pool.defaultBlockLength;
  if (req.hostSubnetLength - block < 2) {
    throw new InvalidArgument(`could not create network "${req.name}": host subnets of /${req.hostSubnetLength} leave fewer than ${MIN_HOST_SUBNETS} per /${block} block of the default pool; pass --subnet or a longer --host-subnet-len`);
  }
  const free = excludeCidr([pool.defaultPool], [...existing.map((a) => a.subnet), ...excluded.map((e) => e.cidr), ...hostRoutes.map((r) => r.cidr)]);
  // excludeCidr returns the remaining space as aligned CIDRs; a block fits in any whose prefix is <= block.
  const candidates = free
    .map((text) => parseCidr(String(text)))
    .filter((c) => c.prefixLength <= block)
    .sort((a, b) => a.network - b.network);
  const first = candidates[0];
  if (!first) throw new PoolExhausted(req.name, `the default pool ${pool.defaultPool} has no free /${block} left that overlaps no network, reserved or excluded range, or route of a live host (pass --subnet)`);
  return { subnet: `${formatIpv4(first.network)}/${block}`, vni };
}
