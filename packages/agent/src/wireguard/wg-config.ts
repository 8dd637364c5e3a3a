/**
 * The WireGuard device's desired state as a `wg syncconf` file, and its actual state
 * from `wg show IF dump`. Pure: no files, no processes (wireguard.ts does those).
 *
 * Why `wg syncconf` with the whole config rather than `wg set` per peer: it diffs
 * against the device and changes only what differs (existing sessions survive), one
 * spawn covers any number of peers, and the same command drives kernel WireGuard
 * and wireguard-go (notes/ops-features.md §2).
 */
import { parseIpv4 } from '@vxnet/common';

import { isWireGuardKey, type PrivateKey } from './keys.js';

/**
 * Seconds between keepalives to each peer. Not for NAT: setting it makes a freshly
 * (re)started device send a handshake at once (wireguard-go and the kernel both do),
 * so the peer, which may still hold a session the restarted side has lost, gets a
 * new one within a round trip instead of after its 15 s data-without-reply timeout.
 * Costs one 32-byte packet per peer per 25 s.
 */
export const KEEPALIVE_S = 25;

/** A remote host as a WireGuard peer. */
export interface WgPeer {
  /** Its public key (WireGuard base64). */
  publicKey: string;
  /** Its tunnel address: AllowedIPs = tunnelIp/32 (only its VTEP's packets are accepted from it). */
  tunnelIp: string;
  /** Its underlay address and WireGuard port: where its packets go. */
  endpoint: { ip: string; port: number };
}

export interface WgDeviceConfig {
  privateKey: PrivateKey;
  listenPort: number;
  peers: WgPeer[];
}

/** Throws TypeError naming the first field of `p` that is not valid (keys are never echoed). */
export function checkPeer(p: WgPeer): void {
  if (!isWireGuardKey(p.publicKey)) throw new TypeError('peer public key is not a WireGuard key');
  if (parseIpv4(p.tunnelIp) === undefined) throw new TypeError(`peer tunnel address "${p.tunnelIp}" is not an IPv4 address`);
  if (parseIpv4(p.endpoint.ip) === undefined) throw new TypeError(`peer endpoint "${p.endpoint.ip}" is not an IPv4 address`);
  if (!Number.isInteger(p.endpoint.port) || p.endpoint.port < 1 || p.endpoint.port > 65535) throw new TypeError(`peer port ${p.endpoint.port} is out of range`);
}

/**
 * The config file for `wg syncconf IF FILE` (wg(8) CONFIGURATION FILE FORMAT). Peers
 * sorted by public key so the same state renders the same bytes. Holds the private
 * key: write it 0600 only (writeSecretFile). Throws TypeError for an invalid peer.
 */
export function renderConfig(c: WgDeviceConfig): string {
  if (!Number.isInteger(c.listenPort) || c.listenPort < 1 || c.listenPort > 65535) throw new TypeError(`listen port ${c.listenPort} is out of range`);
  const lines = ['[Interface]', `PrivateKey = ${c.privateKey.reveal()}`, `ListenPort = ${c.listenPort}`];
  for (const p of [...c.peers].sort((a, b) => a.publicKey.localeCompare(b.publicKey))) {
    checkPeer(p);
    lines.push('', '[Peer]', `PublicKey = ${p.publicKey}`, `AllowedIPs = ${p.tunnelIp}/32`, `Endpoint = ${p.endpoint.ip}:${p.endpoint.port}`, `PersistentKeepalive = ${KEEPALIVE_S}`);
  }
  return `${lines.join('\n')}\n`;
}

/** A peer as the device has it. */
export interface WgPeerState {
  publicKey: string;
  /** `ip:port`, or undefined when the device knows none. */
  endpoint: string | undefined;
  allowedIps: string[];
  /** Seconds since the epoch of the last handshake; 0: never. */
  latestHandshake: number;
  rxBytes: number;
  txBytes: number;
}

/** The device's public state; its private key is read past and dropped. */
export interface WgDeviceState {
  /** '' when the device has no key yet. */
  publicKey: string;
  listenPort: number;
  peers: WgPeerState[];
}

/**
 * Parse `wg show IF dump`: the first line is the interface (private-key, public-key,
 * listen-port, fwmark), then one line per peer (public-key, preshared-key, endpoint,
 * allowed-ips, latest-handshake, transfer-rx, transfer-tx, persistent-keepalive), tab
 * separated, "(none)" for absent values. The private key and preshared keys are not
 * kept. Throws on a malformed dump, without quoting it (it holds the private key).
 */
export function parseDump(text: string): WgDeviceState {
  const lines = text.split('\n').filter((l) => l !== '');
  const head = lines[0]?.split('\t');
  if (!head || head.length < 4) throw new Error('wg show dump: no interface line');
  const listenPort = Number(head[2]);
  // "(none)" on a device that has no key yet (a fresh wireguard-go)
  const publicKey = head[1] === '(none)' ? '' : head[1] ?? '';
  if (publicKey !== '' && !isWireGuardKey(publicKey)) throw new Error('wg show dump: the interface line holds no public key');
  const peers: WgPeerState[] = [];
  for (const [i, line] of lines.slice(1).entries()) {
    const f = line.split('\t');
    if (f.length < 8) throw new Error(`wg show dump: peer line ${i + 1} has ${f.length} fields, want 8`);
    const none = (v: string | undefined) => (v === undefined || v === '(none)' ? undefined : v);
    peers.push({
      publicKey: f[0] ?? '',
      endpoint: none(f[2]),
      allowedIps: (none(f[3]) ?? '').split(',').filter((a) => a !== ''),
      latestHandshake: Number(f[4]) || 0,
      rxBytes: Number(f[5]) || 0,
      txBytes: Number(f[6]) || 0,
    });
  }
  return { publicKey, listenPort, peers };
}

/**
 * Whether the device state matches the desired config (same public key, port, and
 * exactly the desired peers with their allowed IP and endpoint): when it does,
 * nothing needs applying.
 */
export function deviceMatches(state: WgDeviceState, want: { publicKey: string; listenPort: number; peers: WgPeer[] }): boolean {
  if (state.publicKey !== want.publicKey || state.listenPort !== want.listenPort || state.peers.length !== want.peers.length) return false;
  const have = new Map(state.peers.map((p) => [p.publicKey, p]));
  return want.peers.every((p) => {
    const h = have.get(p.publicKey);
    return h !== undefined && h.allowedIps.length === 1 && h.allowedIps[0] === `${p.tunnelIp}/32` && h.endpoint === `${p.endpoint.ip}:${p.endpoint.port}`;
  });
}
