/**
 * This host's WireGuard tunnel address: one address of a reserved pool (default
 * 100.127.0.0/16), claimed in the store with create-if-absent under tunnels/<ip>
 * (value: the host name), permanently, like a subnet lease that never expires.
 *
 * Why claimed rather than derived (e.g. a hash of the host name): a derived address
 * can collide, and two hosts with one tunnel address would make WireGuard's
 * AllowedIPs route one host's traffic to the other. Why permanent: the address is
 * the host's VTEP `local` on every encrypted network; a host keeps it across restarts
 * and store outages, as it keeps its key. The search starts at an offset derived
 * from the host name, so hosts coming up together rarely race for the same address.
 * The agent puts the address on its device with the pool's prefix length, so the
 * host reports the pool as a connected route (hosts/<host>.routes) and the controller
 * keeps network subnets out of it.
 */
import { createHash } from 'node:crypto';
import { formatIpv4, parseCidr, type Keys, type Store } from '@vxnet/common';

export const DEFAULT_TUNNEL_POOL = '100.127.0.0/16';

/**
 * The tunnel address `host` holds in `pool`, claimed now if it holds none. Throws
 * when the pool is full. Idempotent: the same host gets the same address.
 */
export async function claimTunnelAddress(store: Store, keys: Keys, host: string, pool: string): Promise<string> {
  const cidr = parseCidr(pool, 'WireGuard pool');
  const size = 2 ** (32 - cidr.prefixLength);
  const { items } = await store.list(keys.tunnels);
  for (const kv of items) {
    const ip = kv.key.slice(keys.tunnels.length);
    if (kv.value === host && inPool(ip, cidr.network, size)) return ip;
  }
  const usable = size - 2; // not the pool's network or broadcast address
  if (usable < 1) throw new Error(`WireGuard pool ${pool} has no usable address`);
  const start = createHash('sha256').update(host).digest().readUInt32BE(0) % usable;
  for (let i = 0; i < usable; i++) {
    const ip = formatIpv4(cidr.network + 1 + ((start + i) % usable));
    const res = await store.create(keys.tunnel(ip), host);
    if (res.created || res.current.value === host) return ip;
  }
  throw new Error(`WireGuard pool ${pool} is full: every address is claimed by a host`);
}

function inPool(ip: string, network: number, size: number): boolean {
  try {
    const n = parseCidr(`${ip}/32`).network;
    return n > network && n < network + size - 1;
  } catch {
    return false;
  }
}
