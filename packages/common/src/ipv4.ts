/**
 * Strict IPv4 address and CIDR parsing. cidr-tools 11 accepts some invalid input
 * (notes/kernel.md), so user input is validated here first; cidr-tools is for set
 * operations (overlap, exclusion) on CIDRs that already passed these checks.
 */
import { InvalidArgument } from './errors.js';

export interface Cidr {
  /** Network address as an unsigned 32-bit integer. */
  network: number;
  prefixLength: number;
  /** Canonical text, e.g. "10.0.0.0/16". */
  text: string;
}

const OCTET = /^(0|[1-9][0-9]{0,2})$/;

/** Parse dotted-quad IPv4 text; undefined when it is not exactly that. */
export function parseIpv4(text: string): number | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  let n = 0;
  for (const p of parts) {
    if (!OCTET.test(p)) return undefined;
    const v = Number(p);
    if (v > 255) return undefined;
    n = n * 256 + v;
  }
  return n;
}

export function formatIpv4(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

/** Number of addresses in a prefix of this length. */
export function cidrSize(prefixLength: number): number {
  return 2 ** (32 - prefixLength);
}

function prefixMask(prefixLength: number): number {
  return prefixLength === 0 ? 0 : (0xffffffff << (32 - prefixLength)) >>> 0;
}

/**
 * The network an interface address belongs to: ("198.51.100.5", 24) -> 198.51.100.0/24.
 * Undefined when `address` is not dotted-quad IPv4 or the length is not 0-32.
 */
export function networkOf(address: string, prefixLength: number): Cidr | undefined {
  const ip = parseIpv4(address);
  if (ip === undefined || !Number.isInteger(prefixLength) || prefixLength < 0 || prefixLength > 32) return undefined;
  const network = (ip & prefixMask(prefixLength)) >>> 0;
  return { network, prefixLength, text: `${formatIpv4(network)}/${prefixLength}` };
}

/**
 * Parse a canonical IPv4 CIDR ("10.0.0.0/16"). Throws InvalidArgument naming `what`
 * and the reason: not a CIDR, prefix out of range, or host bits set ("10.0.0.1/16";
 * the message suggests the canonical form).
 */
export function parseCidr(text: string, what = 'CIDR'): Cidr {
  const slash = text.indexOf('/');
  const ip = slash < 0 ? undefined : parseIpv4(text.slice(0, slash));
  const lenText = slash < 0 ? '' : text.slice(slash + 1);
  if (ip === undefined || !/^(0|[1-9][0-9]?)$/.test(lenText)) {
    throw new InvalidArgument(`invalid ${what} "${text}": expected an IPv4 CIDR such as 10.0.0.0/16`);
  }
  const prefixLength = Number(lenText);
  if (prefixLength > 32) {
    throw new InvalidArgument(`invalid ${what} "${text}": prefix length ${prefixLength} is out of range 0-32`);
  }
  const network = (ip & prefixMask(prefixLength)) >>> 0;
  if (network !== ip) {
    throw new InvalidArgument(`invalid ${what} "${text}": host bits are set (did you mean ${formatIpv4(network)}/${prefixLength}?)`);
  }
  return { network, prefixLength, text: `${formatIpv4(network)}/${prefixLength}` };
}

/** True when the two ranges share at least one address. */
export function cidrsOverlap(a: Cidr, b: Cidr): boolean {
  return a.network <= b.network + cidrSize(b.prefixLength) - 1 && b.network <= a.network + cidrSize(a.prefixLength) - 1;
}

/** The address at `offset` from the network address of `cidr`; throws RangeError outside it. */
export function addressAt(cidr: Cidr, offset: number): string {
  const size = cidrSize(cidr.prefixLength);
  const i = offset < 0 ? size + offset : offset;
  if (!Number.isInteger(i) || i < 0 || i >= size) throw new RangeError(`offset ${offset} is outside ${cidr.text}`);
  return formatIpv4(cidr.network + i);
}
