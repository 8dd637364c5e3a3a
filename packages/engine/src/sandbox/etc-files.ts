/**
 * The per-container /etc files. They are bind-mounted into the container, so later
 * updates (net connect / disconnect) must rewrite the same inode in place: a
 * write-to-temp-and-rename would leave the container looking at the old file.
 */
import { readFileSync, writeFileSync } from 'node:fs';

export interface HostsEntry {
  ip: string;
  names: string[];
}

/** /etc/hosts: localhost, then each address of the container with its hostname, name and aliases. */
export function hostsFile(entries: HostsEntry[]): string {
  const lines = [
    '127.0.0.1\tlocalhost',
    '::1\tlocalhost ip6-localhost ip6-loopback',
    'fe00::0\tip6-localnet',
    'ff00::0\tip6-mcastprefix',
    'ff02::1\tip6-allnodes',
    'ff02::2\tip6-allrouters',
  ];
  for (const e of entries) lines.push(`${e.ip}\t${[...new Set(e.names)].join(' ')}`);
  return `${lines.join('\n')}\n`;
}

/**
 * /etc/resolv.conf. `nameserver` = the gateway of the container's first overlay
 * network, where the host's agent answers DNS; `hostResolvConf` for --net host
 * (the host's own file); nothing for --net none (no name server).
 */
export function resolvConf(opts: { nameserver?: string; hostResolvConf?: string }): string {
  if (opts.hostResolvConf !== undefined) return opts.hostResolvConf;
  if (opts.nameserver === undefined) return '# no name server: the container has no network\n';
  return `nameserver ${opts.nameserver}\noptions ndots:0\n`;
}

export function hostnameFile(hostname: string): string {
  return `${hostname}\n`;
}

/** Rewrite `path` in place (same inode: it may be bind-mounted). */
export function rewriteInPlace(path: string, content: string): void {
  writeFileSync(path, content, { flag: 'w' });
}

/** The host's resolv.conf, or an empty one. */
export function readHostResolvConf(path = '/etc/resolv.conf'): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}
