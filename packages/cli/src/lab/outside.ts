/**
 * The lab's outside: what lies beyond a real site's gateway, so egress, published
 * ports and isolation can be shown for real (issue 10).
 *
 *   vx-<lab>.rt    the router: eth0 on the underlay switch (port p-rt) at the fourth
 *                  address from the top of the underlay (below the store, the
 *                  controller), eth1 = <outside>.1; forwards (ip_forward=1), no NAT
 *   vx-<lab>.out   the outside host: eth0 = <outside>.10, a route to the underlay via
 *                  the router and none to anything else, running the responder
 *                  (outside-server.ts: tcp+udp echo on 7, discard on 9, HTTP on 80)
 *
 * The outside network is a second TEST-NET: 198.51.100.0/24, or 203.0.113.0/24 when
 * the underlay overlaps that. Every machine (hosts and controller) gets `default via`
 * the router, as a real host has its gateway.
 *
 * Why no route to the overlays: a container's packet that leaves its host without
 * masquerade still reaches the outside (the router forwards anything), but the answer,
 * addressed to an overlay address, has nowhere to go. So an answer proves the host
 * translated the source, and the address the HTTP responder reports proves which.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { addressAt, cidrsOverlap, isAlive, parseCidr, spawnDaemon, type Cidr, type ProcessRecord } from '@vxnet/common';
import { CommandFailed } from '../errors.js';
import { ip, netnsPath } from './ip.js';
import type { LabOutside } from './lab-state.js';

/** The outside networks a lab can use, in order of preference (TEST-NET-2, TEST-NET-3). */
export const OUTSIDE_NETWORKS = ['198.51.100.0/24', '203.0.113.0/24'] as const;
/** Offsets in the outside network: the router and the outside host. */
const ROUTER_OFFSET = 1;
const OUTSIDE_OFFSET = 10;
/** Where the responder answers. */
export const OUTSIDE_PORTS = { echo: 7, discard: 9, http: 80 } as const;
/** What the responder answers, for `lab status`. */
export const OUTSIDE_SERVICES = [`tcp/${OUTSIDE_PORTS.echo} echo`, `udp/${OUTSIDE_PORTS.echo} echo`, `tcp/${OUTSIDE_PORTS.discard} discard`, `tcp/${OUTSIDE_PORTS.http} http (GET / -> client ADDRESS:PORT, GET /ip -> ADDRESS)`];
/** The sockets a healthy responder has open: "tcp/7", "udp/7", "tcp/9", "tcp/80". */
export const OUTSIDE_SOCKETS = [`tcp/${OUTSIDE_PORTS.echo}`, `udp/${OUTSIDE_PORTS.echo}`, `tcp/${OUTSIDE_PORTS.discard}`, `tcp/${OUTSIDE_PORTS.http}`];

/** The first outside network that does not overlap `underlay`, or undefined when both do. */
export function outsideNetworkFor(underlay: Cidr): Cidr | undefined {
  return OUTSIDE_NETWORKS.map((n) => parseCidr(n)).find((n) => !cidrsOverlap(n, underlay));
}

/**
 * What a lab records about its outside before making any of it. `routerUnderlayIp` is
 * the router's address on the underlay (chosen by the lab with its other reserved ones).
 */
export function planOutside(prefix: string, network: Cidr, routerUnderlayIp: string, logFile: string): LabOutside {
  const outsideIp = addressAt(network, OUTSIDE_OFFSET);
  return {
    routerNetns: `${prefix}rt`,
    routerUnderlayIp,
    network: network.text,
    routerIp: addressAt(network, ROUTER_OFFSET),
    netns: `${prefix}out`,
    ip: outsideIp,
    logFile,
    command: [process.execPath, fileURLToPath(new URL('./outside-server.js', import.meta.url)), outsideIp],
  };
}

/**
 * Make the outside namespace behind a router whose eth0 is already on the underlay.
 * `recordNetns` records a namespace in the lab state and then makes it. Throws
 * CommandFailed. Equivalent to:
 *   ip netns add vx-L.out
 *   ip -n vx-L.rt link add eth1 type veth peer name eth0 netns vx-L.out
 *   ip -n vx-L.rt addr add 198.51.100.1/24 dev eth1; ip -n vx-L.rt link set eth1 up
 *   ip netns exec vx-L.rt sysctl -w net.ipv4.ip_forward=1
 *   ip -n vx-L.out addr add 198.51.100.10/24 dev eth0; ip -n vx-L.out link set eth0 up
 *   ip -n vx-L.out route add UNDERLAY-CIDR via 198.51.100.1
 */
export function buildOutside(o: LabOutside, underlay: string, mtu: number, recordNetns: (name: string) => void): void {
  const prefixLength = parseCidr(o.network).prefixLength;
  recordNetns(o.netns);
  // born inside the router's namespace, its peer inside the outside's: nothing in the root namespace
  ip(['-n', o.routerNetns, 'link', 'add', 'eth1', 'mtu', String(mtu), 'type', 'veth', 'peer', 'name', 'eth0', 'mtu', String(mtu), 'netns', o.netns]);
  ip(['-n', o.routerNetns, 'addr', 'add', `${o.routerIp}/${prefixLength}`, 'dev', 'eth1']);
  ip(['-n', o.routerNetns, 'link', 'set', 'eth1', 'up']);
  enableForwarding(o.routerNetns);
  ip(['-n', o.netns, 'addr', 'add', `${o.ip}/${prefixLength}`, 'dev', 'eth0']);
  ip(['-n', o.netns, 'link', 'set', 'eth0', 'up']);
  ip(['-n', o.netns, 'route', 'add', underlay, 'via', o.routerIp]);
}

/**
 * Turn on IPv4 forwarding in namespace `netns`. /proc/sys/net is the writer's network
 * namespace's, so nsenter --net is enough (no sysctl binary needed).
 * Equivalent to: ip netns exec NETNS sysctl -w net.ipv4.ip_forward=1
 */
function enableForwarding(netns: string): void {
  const file = '/proc/sys/net/ipv4/ip_forward';
  const enter = [`--net=${netnsPath(netns)}`, '--'];
  try {
    execFileSync('nsenter', [...enter, 'tee', file], { input: '1\n', stdio: ['pipe', 'ignore', 'pipe'] });
    const now = execFileSync('nsenter', [...enter, 'cat', file], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
    if (now !== '1') throw new Error(`${file} reads ${now} after writing 1`);
  } catch (err) {
    const e = err as { stderr?: Buffer; message: string };
    throw new CommandFailed(`enabling forwarding in ${netns}`, (e.stderr?.toString() || e.message).trim());
  }
}

/** A machine's gateway, as a real host's. Equivalent to: ip -n NETNS route replace default via ROUTER */
export function setDefaultRoute(netns: string, router: string): void {
  ip(['-n', netns, 'route', 'replace', 'default', 'via', router]);
}

/** Start the responder in the outside namespace; the caller records the process at once. */
export function startResponder(o: LabOutside): ProcessRecord {
  const [cmd, ...args] = o.command;
  if (!cmd) throw new TypeError('startResponder: empty command');
  return spawnDaemon({ command: cmd, args, logFile: o.logFile, netnsPath: netnsPath(o.netns), detached: true });
}

/**
 * The responder's sockets that are not open ("tcp/80", …; empty: all are), read from
 * /proc/PID/net/{tcp,udp}, which list the sockets of the process's network namespace.
 * Only the outside namespace's own processes can have them, and the lab starts only one.
 */
export function missingSockets(proc: ProcessRecord): string[] {
  const open = new Set<string>();
  for (const [proto, listening] of [['tcp', '0A'], ['udp', '07']] as const) {
    let text = '';
    try {
      text = readFileSync(`/proc/${proc.pid}/net/${proto}`, 'utf8');
    } catch {
      continue; // gone
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      const port = Number.parseInt(f[1]?.split(':')[1] ?? '', 16);
      if (f[3] === listening && Number.isInteger(port)) open.add(`${proto}/${port}`);
    }
  }
  return OUTSIDE_SOCKETS.filter((s) => !open.has(s));
}

/** Wait until the responder has every socket open (10 s); throws CommandFailed when it exits or does not. */
export async function waitResponder(o: LabOutside, proc: ProcessRecord, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (!isAlive(proc)) throw new CommandFailed('the outside responder', `it exited at start (see ${o.logFile})`);
    const missing = missingSockets(proc);
    if (missing.length === 0) return;
    if (Date.now() > deadline) throw new CommandFailed('the outside responder', `${missing.join(', ')} not open after ${timeoutMs} ms (see ${o.logFile})`);
    await sleep(20);
  }
}
