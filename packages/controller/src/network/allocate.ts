/**
 * Allocation policy for new networks: request validation, the ranges no network may
 * overlap, the order in which VNIs and default-pool blocks are tried. Pure (no store),
 * so the same rules hold whichever controller runs them; the claims themselves are in
 * claims.ts and the order of a create in network-service.ts.
 */
import { excludeCidr } from 'cidr-tools';
import {
  InvalidArgument, RESERVED_RANGES, SUPPORTED_DRIVERS, cidrSize, cidrsOverlap, formatIpv4, parseCidr, type Cidr, type Driver,
} from '@vxnet/common';
import { NAME_RE, type CreateNetworkRequest } from '@vxnet/common/api';
import { PoolExhausted, SubnetOverlap, UnsupportedDriver } from '../errors.js';

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

/** The VNI after `vni` in the automatic range, wrapping to its start. */
export function nextAutoVni(vni: number): number {
  return vni >= VNI_MAX || vni < VNI_AUTO_START ? VNI_AUTO_START : vni + 1;
}

/**
 * Up to `max` VNIs of the automatic range not in `taken`, in order from `from` and
 * wrapping around; empty when every one is taken.
 */
export function freeVnis(taken: ReadonlySet<number>, from: number, max: number): number[] {
  const out: number[] = [];
  let vni = from < VNI_AUTO_START || from > VNI_MAX ? VNI_AUTO_START : from;
  for (let n = 0; n <= VNI_MAX - VNI_AUTO_START && out.length < max; n++, vni = nextAutoVni(vni)) {
    if (!taken.has(vni)) out.push(vni);
  }
  return out;
}

/** Every range no network may overlap: the reserved ranges of common, then the configured ones. */
export function excludedRanges(pool: PoolConfig): ExcludedRange[] {
  return [...RESERVED_RANGES, ...pool.excluded];
}

/**
 * Refuse an explicit subnet overlapping a reserved or configured range or a route of a
 * live host (SubnetOverlap, naming it). Other networks are checked by their claims.
 */
export function checkExplicitSubnet(req: ValidRequest & { subnet: Cidr }, pool: PoolConfig, hostRoutes: readonly HostRoute[]): void {
  for (const e of excludedRanges(pool)) {
    if (cidrsOverlap(req.subnet, parseCidr(e.cidr, 'excluded range'))) throw new SubnetOverlap(req.name, req.subnet.text, `${e.cidr} (${e.reason})`);
  }
  for (const r of hostRoutes) {
    if (cidrsOverlap(req.subnet, parseCidr(r.cidr, 'host route'))) throw new SubnetOverlap(req.name, req.subnet.text, `route ${r.cidr} on host ${r.host}`);
  }
}

/**
 * The default pool cut into blocks of `defaultBlockLength`, numbered from 0 at its
 * start: the candidates of a network created without --subnet, tried in order from a
 * cursor (network-service.ts).
 */
export class PoolBlocks {
  readonly pool: Cidr;
  readonly length: number;
  /** How many blocks the pool holds. */
  readonly count: number;
  private readonly avoid: Cidr[];

  /** Throws InvalidArgument when a block holds fewer than MIN_HOST_SUBNETS host subnets of the request. */
  constructor(private readonly config: PoolConfig, req: ValidRequest, hostRoutes: readonly HostRoute[]) {
    this.pool = parseCidr(config.defaultPool, 'default pool');
    this.length = config.defaultBlockLength;
    if (req.hostSubnetLength - this.length < 2) {
      throw new InvalidArgument(`could not create network "${req.name}": host subnets of /${req.hostSubnetLength} leave fewer than ${MIN_HOST_SUBNETS} per /${this.length} block of the default pool; pass --subnet or a longer --host-subnet-len`);
    }
    this.count = 2 ** Math.max(0, this.length - this.pool.prefixLength);
    this.avoid = [...excludedRanges(config).map((e) => parseCidr(e.cidr, 'excluded range')), ...hostRoutes.map((r) => parseCidr(r.cidr, 'host route'))];
  }

  /** Block number `index` (0 <= index < count). */
  at(index: number): Cidr {
    const network = this.pool.network + index * cidrSize(this.length);
    return { network, prefixLength: this.length, text: `${formatIpv4(network)}/${this.length}` };
  }

  /** The number of block `cidr` (one of this pool's). */
  indexOf(cidr: Cidr): number {
    return (cidr.network - this.pool.network) / cidrSize(this.length);
  }

  /** Whether block `cidr` overlaps no reserved or configured range and no route of a live host. */
  usable(cidr: Cidr): boolean {
    return !this.avoid.some((a) => cidrsOverlap(cidr, a));
  }

  /**
   * The numbers of up to `max` blocks, in order from `from` (wrapping around), that
   * overlap none of `claimed` (every claimed CIDR), no reserved or configured range and
   * no live host's route; empty when the pool is full.
   */
  freeBlocks(claimed: readonly string[], from: number, max: number): number[] {
    const free = excludeCidr([this.config.defaultPool], [...claimed, ...this.avoid.map((c) => c.text)]);
    // excludeCidr returns the remaining space as aligned CIDRs; blocks fit in any whose prefix is <= the block's
    const size = cidrSize(this.length);
    const ranges = free
      .map((text) => parseCidr(String(text)))
      .filter((c) => c.prefixLength <= this.length)
      .map((c) => ({ first: (c.network - this.pool.network) / size, last: (c.network - this.pool.network) / size + cidrSize(c.prefixLength) / size - 1 }))
      .sort((x, y) => x.first - y.first);
    const out: number[] = [];
    for (const pass of [0, 1]) {
      for (const r of ranges) {
        // pass 0: the blocks at or after `from`; pass 1: those before it (wrapped around)
        const lo = pass === 0 ? Math.max(r.first, from) : r.first;
        const hi = pass === 0 ? r.last : Math.min(r.last, from - 1);
        for (let i = lo; i <= hi && out.length < max; i++) out.push(i);
      }
    }
    return out;
  }

  /** The PoolExhausted message of this pool. */
  exhausted(name: string): Error {
    return new PoolExhausted(name, `the default pool ${this.config.defaultPool} has no free /${this.length} left that overlaps no network, reserved or excluded range, or route of a live host (pass --subnet)`);
  }
}
