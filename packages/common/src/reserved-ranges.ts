/**
 * IPv4 ranges no vxnet network may use, whatever the configuration: the one
 * definition every check imports (the controller refuses them in `net create` and
 * its default pool skips them).
 *
 * Why these: a container address in any of them cannot work as a unicast host
 * address. 0.0.0.0/8 means "this network" (RFC 1122 3.2.1.3, a source only);
 * 127.0.0.0/8 never leaves a host (the kernel routes the whole /8 to `lo` in the
 * local table, so the host itself could not reach such a container); 169.254.0.0/16
 * is link-local (RFC 3927: not forwarded by routers, and the bridge gateway would
 * answer for cloud metadata addresses); 224.0.0.0/4 is multicast and 240.0.0.0/4 is
 * reserved (RFC 1112; Linux refuses to route it as unicast, and it holds the limited
 * broadcast 255.255.255.255).
 */
import { cidrsOverlap, parseCidr, type Cidr } from './ipv4.js';

export interface ReservedRange {
  /** Canonical IPv4 CIDR. */
  cidr: string;
  /** Why it is reserved, as shown to users: `127.0.0.0/8 (loopback, reserved)`. */
  reason: string;
}

export const RESERVED_RANGES: readonly ReservedRange[] = Object.freeze([
  { cidr: '0.0.0.0/8', reason: '"this network", reserved' },
  { cidr: '127.0.0.0/8', reason: 'loopback, reserved' },
  { cidr: '169.254.0.0/16', reason: 'link-local, reserved' },
  { cidr: '224.0.0.0/4', reason: 'multicast, reserved' },
  { cidr: '240.0.0.0/4', reason: 'future use and broadcast, reserved' },
].map((r) => Object.freeze(r)));

/** The first reserved range `cidr` overlaps, or undefined when it overlaps none. */
export function reservedRangeOverlapping(cidr: Cidr): ReservedRange | undefined {
  return RESERVED_RANGES.find((r) => cidrsOverlap(cidr, parseCidr(r.cidr)));
}
