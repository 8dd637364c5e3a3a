/**
 * IPv4 forwarding in the agent's (host) namespace: the uplinks route container
 * traffic through it. Networks' own namespaces get theirs from ensureNetwork.
 */
import { readFileSync, writeFileSync } from 'node:fs';

import { inNetns } from '@vxnet/netns';

const IP_FORWARD = '/proc/sys/net/ipv4/ip_forward';

/** Turns forwarding on where needed; the seam the firewall's tests replace. */
export interface Forwarding {
  /**
   * Makes net.ipv4.ip_forward 1. Returns true when it was 0 (and now is 1), false
   * when it already was 1. Throws the file system error when it cannot be read or written.
   *
   * Equivalent to: sysctl -w net.ipv4.ip_forward=1
   */
  ensure(): boolean;
}

/**
 * Forwarding through /proc. /proc/sys/net resolves against the opening thread's
 * namespace, so with `netns` (tests acting on a simulated host) the read and write
 * happen inside it, synchronously (inNetns); without, in the agent's own namespace.
 */
export function procForwarding(netns?: string): Forwarding {
  const ensure = (): boolean => {
    if (readFileSync(IP_FORWARD, 'utf8').trim() === '1') return false;
    writeFileSync(IP_FORWARD, '1\n');
    return true;
  };
  return { ensure: netns === undefined ? ensure : () => inNetns(netns, ensure) };
}
