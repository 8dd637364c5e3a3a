/**
 * Published ports (`vxnet run -p`): the one parser and formatter of `-p` values, and
 * the one check of port requests, shared by the CLI (before any request is sent) and
 * the engine's API (for any other client). Whether a host address belongs to the
 * host and whether a port is free there are the agent's to judge: only it knows.
 *
 *   -p 8080:80              the host's underlay address, port 8080/tcp -> the container's 80
 *   -p 192.0.2.1:5353:53/udp  a given host address, UDP
 *
 * As docker's `-p`, less what vxnet does not do: no port ranges (8080-8081:80-81), no
 * random host port (`-p 80`), no IPv6 ([::1]:80:80), no sctp.
 */
import { InvalidArgument } from '../errors.js';
import { parseIpv4 } from '../ipv4.js';
import type { PortMapping, PortProtocol, PortRequest } from './agent.js';

export const PORT_PROTOCOLS: readonly PortProtocol[] = ['tcp', 'udp'];
/** The form of a `-p` value, for messages. */
export const PORT_SPEC_FORM = '[IP:]HOSTPORT:CONTAINERPORT[/tcp|udp]';

/** Why `text` is not a port 1-65535 (`what` names it: "host port"), or undefined. */
function portProblem(what: string, text: string): string | undefined {
  if (text === '') return `the ${what} is missing`;
  if (what === 'host port' && parseIpv4(text) !== undefined) return `"${text}" is an address: give both ports after it`;
  if (/^[0-9]+-[0-9]+$/.test(text)) return `${what} range "${text}" is not supported: publish one port per -p`;
  if (!/^[0-9]+$/.test(text)) return `${what} "${text}" is not a number`;
  const n = Number(text);
  if (n < 1 || n > 65535) return `${what} ${text.replace(/^0+(?=\d)/, '')} is out of range 1-65535`;
  return undefined;
}

/** Why `ip` is not a host address a port can be published on, or undefined. */
function hostIpProblem(ip: string): string | undefined {
  if (ip === '') return 'the host IP before the first ":" is empty (leave it out for the host\'s underlay address)';
  if (ip.startsWith('[') || ip.includes(':')) return `host IP "${ip}" is not an IPv4 address (IPv6 is not supported)`;
  if (parseIpv4(ip) === undefined) return `host IP "${ip}" is not an IPv4 address`;
  return undefined;
}

/**
 * Parse one `-p` value. Throws InvalidArgument, one line naming the value, what is
 * wrong and the expected form: `invalid -p "abc:80": host port "abc" is not a number
 * (expected [IP:]HOSTPORT:CONTAINERPORT[/tcp|udp])`.
 */
export function parsePortSpec(text: string, flag = '-p'): PortRequest {
  const fail = (why: string) => new InvalidArgument(`invalid ${flag} "${text}": ${why} (expected ${PORT_SPEC_FORM})`);
  let rest = text;
  let protocol: PortProtocol = 'tcp';
  const slash = text.lastIndexOf('/');
  if (slash >= 0) {
    const proto = text.slice(slash + 1);
    if (proto === '') throw fail('the protocol after "/" is missing');
    if (!(PORT_PROTOCOLS as readonly string[]).includes(proto)) throw fail(`unknown protocol "${proto}": expected tcp or udp`);
    protocol = proto as PortProtocol;
    rest = text.slice(0, slash);
  }
  if (rest.startsWith('[')) throw fail('IPv6 host addresses are not supported');
  const parts = rest.split(':');
  if (parts.length < 2) throw fail(rest === '' ? 'it is empty' : 'give both the host port and the container port');
  if (parts.length > 3) throw fail('too many ":"');
  const [hostIp, hostPort, containerPort] = parts.length === 3 ? parts as [string, string, string] : [undefined, ...parts] as [undefined, string, string];
  const problem = (hostIp !== undefined ? hostIpProblem(hostIp) : undefined) ?? portProblem('host port', hostPort) ?? portProblem('container port', containerPort);
  if (problem) throw fail(problem);
  return { ...(hostIp !== undefined ? { hostIp } : {}), hostPort: Number(hostPort), containerPort: Number(containerPort), protocol };
}

/**
 * Why a list of port requests from an API client cannot be published, or undefined:
 * a bad host address or port (the schema checks types, this the values), or the same
 * host address, port and protocol twice. `-p 8080:80 -p 8080:80/udp` is fine.
 */
export function portRequestsProblem(ports: readonly PortRequest[]): string | undefined {
  const seen = new Set<string>();
  for (const p of ports) {
    const shown = formatPort(p);
    const bad = (p.hostIp !== undefined ? hostIpProblem(p.hostIp) : undefined)
      ?? (PORT_PROTOCOLS.includes(p.protocol) ? undefined : `unknown protocol "${String(p.protocol)}": expected tcp or udp`)
      ?? portProblem('host port', Number.isInteger(p.hostPort) ? String(p.hostPort) : 'x')
      ?? portProblem('container port', Number.isInteger(p.containerPort) ? String(p.containerPort) : 'x');
    if (bad) return `invalid published port ${shown}: ${bad}`;
    const key = `${p.hostIp ?? '*'}:${p.hostPort}/${p.protocol}`;
    if (seen.has(key)) return `host port ${p.hostIp ? `${p.hostIp}:` : ''}${p.hostPort}/${p.protocol} is published twice`;
    seen.add(key);
  }
  return undefined;
}

/**
 * A port as docker prints it: `192.0.2.1:8080->80/tcp`; a request without a host
 * address (the underlay's, resolved by the agent): `8080->80/tcp`.
 */
export function formatPort(p: PortRequest | PortMapping): string {
  return `${p.hostIp !== undefined ? `${p.hostIp}:` : ''}${p.hostPort}->${p.containerPort}/${p.protocol}`;
}

/** Several ports, comma-separated (docker ps's PORTS column); "" for none. */
export function formatPorts(ports: ReadonlyArray<PortRequest | PortMapping>): string {
  return ports.map(formatPort).join(', ');
}
