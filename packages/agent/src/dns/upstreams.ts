/**
 * The host's upstream resolvers: `--dns-upstream IP[:port],...` (or VXNET_DNS_UPSTREAM),
 * else the `nameserver` lines of the agent's own /etc/resolv.conf. They are reached
 * from the agent's (host) network namespace: the networks' namespaces have no route
 * to the underlay, so the workers hand queries to the main thread (forwarder.ts).
 */
import { readFileSync } from 'node:fs';
import { isIPv4, isIPv6 } from 'node:net';
import { InvalidArgument } from '@vxnet/common';

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

/** A comma-separated list; throws InvalidArgument naming every bad entry. */
export function parseUpstreamList(text: string): Upstream[] {
  const entries = text.split(',').map((s) => s.trim()).filter(Boolean);
  const bad = entries.filter((e) => parseUpstream(e) === undefined);
  if (bad.length > 0) throw new InvalidArgument(`invalid DNS upstream ${bad.map((b) => `"${b}"`).join(', ')}: expected IP[:port][,IP[:port]...]`);
  return entries.map((e) => parseUpstream(e) as Upstream);
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

/**
 * Takes the DNS flags out of the agent's argv (the rest goes to loadConfig):
 * `--dns-upstream LIST` / `--dns-upstream=LIST`. Precedence: flag, then
 * VXNET_DNS_UPSTREAM, then /etc/resolv.conf.
 */
export function dnsUpstreamsFromArgs(argv: string[], env: NodeJS.ProcessEnv = process.env, resolvConf = '/etc/resolv.conf'): { upstreams: Upstream[]; rest: string[] } {
  const rest: string[] = [];
  let flag: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    if (a === '--dns-upstream') {
      flag = argv[++i];
      if (flag === undefined) throw new InvalidArgument('--dns-upstream needs a value: IP[:port][,IP[:port]...]');
    } else if (a.startsWith('--dns-upstream=')) {
      flag = a.slice('--dns-upstream='.length);
    } else {
      rest.push(a);
    }
  }
  const text = flag ?? env.VXNET_DNS_UPSTREAM;
  return { upstreams: text !== undefined ? parseUpstreamList(text) : upstreamsFromResolvConf(resolvConf), rest };
}
