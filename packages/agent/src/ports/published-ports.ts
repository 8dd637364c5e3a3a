/**
 * Published ports (`run -p`): what is asked, checked against this host before
 * anything is made. Pure policy; the bind check (is a process using it?) is the
 * caller's, through a PortProbe, on the mappings this returns.
 *
 * Rules, each refused with a message naming the port and why:
 * - the host address defaults to the host's underlay address; 0.0.0.0 means every
 *   address of the host; any other must be an address of this host (loopback and
 *   the uplinks' link-local ends excluded: DNAT cannot serve them);
 * - (address, port, protocol) is unique on the host, where 0.0.0.0 overlaps every
 *   address: a second endpoint asking for it is refused naming the container that
 *   has it; the same port twice in one request is refused too.
 */
import { InvalidArgument, formatIpv4, parseIpv4 } from '@vxnet/common';
import type { PortMapping, PortRequest } from '@vxnet/common/api';

import { PortUnavailable } from '../errors.js';

/** Every address of the host. */
export const ANY_ADDRESS = '0.0.0.0';

/** A port already published on this host, and who has it. */
export interface PublishedPort {
  mapping: PortMapping;
  /** The container (as its endpoint records it) and endpoint name, for messages. */
  container: string;
  endpointName: string;
}

export interface PortContext {
  host: string;
  underlayIp: string;
  /** Addresses a port may be published on (see publishableAddresses). */
  hostAddresses: string[];
  /** Ports of the other endpoints on this host. */
  published: PublishedPort[];
}

/** `198.51.100.1:8080/tcp`, as messages and logs name a published port. */
export function portText(p: { hostIp: string; hostPort: number; protocol: string }): string {
  return `${p.hostIp}:${p.hostPort}/${p.protocol}`;
}

/** The addresses of `all` a port may be published on: not loopback, not on an interface named by `excludeIfname`. */
export function publishableAddresses(all: Array<{ ip: string; ifname: string }>, excludeIfname: (ifname: string) => boolean): string[] {
  return [...new Set(all.filter((a) => !a.ip.startsWith('127.') && !excludeIfname(a.ifname)).map((a) => a.ip))].sort();
}

function overlaps(a: PortMapping, b: PortMapping): boolean {
  return a.protocol === b.protocol && a.hostPort === b.hostPort && (a.hostIp === b.hostIp || a.hostIp === ANY_ADDRESS || b.hostIp === ANY_ADDRESS);
}

/**
 * The mappings for `requests` (host address resolved), or throws: InvalidArgument
 * (400) for a host address that is not IPv4 text, PortUnavailable (409) for an
 * address not on this host, a port asked for twice, or one published already.
 */
export function resolvePorts(requests: PortRequest[] | undefined, ctx: PortContext): PortMapping[] {
  const out: PortMapping[] = [];
  for (const r of requests ?? []) {
    let hostIp = ctx.underlayIp;
    if (r.hostIp !== undefined) {
      const n = parseIpv4(r.hostIp);
      if (n === undefined) throw new InvalidArgument(`invalid host address "${r.hostIp}" for port ${r.hostPort}/${r.protocol}: expected an IPv4 address`);
      hostIp = formatIpv4(n);
    }
    const m: PortMapping = { hostIp, hostPort: r.hostPort, containerPort: r.containerPort, protocol: r.protocol };
    if (hostIp !== ANY_ADDRESS && !ctx.hostAddresses.includes(hostIp)) {
      throw new PortUnavailable(portText(m), `${hostIp} is not an address of host ${ctx.host} (its addresses: ${ctx.hostAddresses.join(', ') || 'none'}; or 0.0.0.0 for all)`);
    }
    if (out.some((o) => overlaps(o, m))) throw new PortUnavailable(portText(m), 'it is asked for twice');
    const taken = ctx.published.find((p) => overlaps(p.mapping, m));
    if (taken) {
      throw new PortUnavailable(portText(m), `${portText(taken.mapping)} is published for container ${taken.container.slice(0, 12)} (endpoint "${taken.endpointName}") on host ${ctx.host}`);
    }
    out.push(m);
  }
  return out;
}
