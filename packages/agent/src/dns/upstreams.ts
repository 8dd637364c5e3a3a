/**
 * The host's upstream resolvers: the agent's `dnsUpstreams` setting (`IP[:port]`
 * entries; config.ts), by default the `nameserver` lines of the agent's own
 * /etc/resolv.conf. They are reached from the agent's (host) network namespace: the
 * networks' namespaces have no route to the underlay, so the workers hand queries to
 * the main thread (forwarder.ts).
 */
import { readFileSync } from 'node:fs';
import { isIPv4, isIPv6 } from 'node:net';

export interface Upstream {
  address: string;
  port: number;
}

export const DNS_PORT = 53;

/** `1.2.3.4`, `1.2.3.4:5353`, `::1`, `[::1]:5353` -> Upstream; undefined when invalid. */
export function parseUpstream(text: string): Upstream | undefined {
  const t = text.trim();
  let address: string;
  let portText: string | undefined;
  if (isIPv6(t)) {
    address = t;
  } else {
    const m = /^\[([^\]]+)\](?::(\d{1,5}))?$/.exec(t) ?? /^([^:[\]]+)(?::(\d{1,5}))?$/.exec(t);
    if (!m?.[1]) return undefined;
    address = m[1];
    portText = m[2];
    const bracketed = t.startsWith('[');
    if (bracketed ? !isIPv6(address) : !isIPv4(address)) return undefined;
  }
  const port = portText === undefined ? DNS_PORT : Number(portText);
  if (port < 1 || port > 65535) return undefined;
  return { address, port };
}

/** The text parseUpstream reads back: `1.2.3.4:53`, `[::1]:53`. */
export function formatUpstream(u: Upstream): string {
  return isIPv6(u.address) ? `[${u.address}]:${u.port}` : `${u.address}:${u.port}`;
}

/** Nameservers of a resolv.conf (missing file: none). IPv6 zone ids are dropped. */
export function upstreamsFromResolvConf(path = '/etc/resolv.conf'): Upstream[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return [];
  }
  const out: Upstream[] = [];
  for (const line of text.split('\n')) {
    const m = /^\s*nameserver\s+(\S+)/.exec(line);
    const u = m?.[1] ? parseUpstream(m[1].split('%')[0] ?? '') : undefined;
    if (u) out.push(u);
  }
  return out;
}
