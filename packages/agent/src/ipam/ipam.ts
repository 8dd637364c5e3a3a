/**
 * Addresses inside this host's subnet of a network, allocated locally (the subnet is
 * the host's alone). Reserved: the network address (the VTEP), the first address
 * (the gateway on the bridge) and the broadcast address.
 */
import { cidrSize, formatIpv4, parseCidr, parseIpv4 } from '@vxnet/common';

/** Why `ip` cannot be used in `subnet`, or undefined when it can (ignoring what is in use). */
export function addressProblem(ip: string, subnet: string): string | undefined {
  const n = parseIpv4(ip);
  if (n === undefined) return 'not an IPv4 address';
  const c = parseCidr(subnet);
  const size = cidrSize(c.prefixLength);
  if (n < c.network || n >= c.network + size) return `it is outside this host's subnet ${c.text}`;
  if (n === c.network) return `it is the network address of ${c.text} (this host's VTEP)`;
  if (n === c.network + 1) return `it is the gateway of ${c.text}`;
  if (n === c.network + size - 1) return `it is the broadcast address of ${c.text}`;
  return undefined;
}

/** The lowest free address of `subnet`, or undefined when all are in use. */
export function nextFree(subnet: string, inUse: Set<string>): string | undefined {
  const c = parseCidr(subnet);
  const size = cidrSize(c.prefixLength);
  for (let i = 2; i < size - 1; i++) {
    const ip = formatIpv4(c.network + i);
    if (!inUse.has(ip)) return ip;
  }
  return undefined;
}

/** MAC derived from the IP, as Docker does: 02:42 followed by the four address bytes. */
export function macForIp(ip: string): string {
  const n = parseIpv4(ip);
  if (n === undefined) throw new Error(`not an IPv4 address: ${ip}`);
  return ['02', '42', ...[n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].map((b) => b.toString(16).padStart(2, '0'))].join(':');
}
