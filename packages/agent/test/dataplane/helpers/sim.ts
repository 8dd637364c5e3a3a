/**
 * Simulated hosts for privileged data-plane tests: namespaces with a unique
 * per-process prefix, an underlay veth between them (TEST-NET-2, 198.51.100.0/24:
 * this machine's own eth0 is on 192.0.2.0/24, so that range is avoided even
 * inside namespaces to keep `ip` output unambiguous), and `ip` for setup and
 * for inspecting kernel state the way a human would.
 */
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';

import { deleteNetns, ensureNetns, listNetns, namespaceSupportMissing } from '@vxnet/netns';
import { NetlinkDataPlane, type NetworkPlaneSpec, type Peer } from '../../../src/dataplane/index.js';
import type { Test } from 'tap';

const execFileP = promisify(execFile);

/** Why the privileged tests cannot run here, or undefined. */
export function skipReason(): string | undefined {
  return namespaceSupportMissing();
}

/** `ip ARGS…`, output as text; throws on failure. */
export function ip(...args: string[]): string {
  return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** `ip -j ARGS…` parsed. */
export function ipJson<T = Array<Record<string, unknown>>>(...args: string[]): T {
  const out = ip('-j', ...args).trim();
  return (out ? JSON.parse(out) : []) as T;
}

/** Names of the links in namespace `ns`, sorted. */
export function linkNames(ns: string): string[] {
  return ipJson<Array<{ ifname: string }>>('-n', ns, 'link', 'show').map((l) => l.ifname).sort();
}

/** True when one ping from namespace `ns` to `dst` gets an answer within 2 s. */
export async function pings(ns: string, dst: string): Promise<boolean> {
  try {
    await execFileP('ip', ['netns', 'exec', ns, 'ping', '-c1', '-W2', '-q', dst]);
    return true;
  } catch {
    return false;
  }
}

/** A unique namespace-name prefix for one test file. */
export function testPrefix(tag: string): string {
  return `vxt${process.pid}-${tag}`;
}

/** Creates host namespace `name` with lo up. */
export function makeNs(name: string): string {
  ensureNetns(name);
  ip('-n', name, 'link', 'set', 'lo', 'up');
  return name;
}

export interface SimHost {
  ns: string;
  underlayIp: string;
}

/**
 * Two hosts joined by a veth pair: `${prefix}-h1` and `${prefix}-h2`, each with
 * `eth0` at 198.51.100.1/24 and 198.51.100.2/24.
 */
export function makeTwoHosts(prefix: string): [SimHost, SimHost] {
  const h1 = makeNs(`${prefix}-h1`);
  const h2 = makeNs(`${prefix}-h2`);
  ip('-n', h1, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', h2);
  ip('-n', h1, 'addr', 'add', '198.51.100.1/24', 'dev', 'eth0');
  ip('-n', h2, 'addr', 'add', '198.51.100.2/24', 'dev', 'eth0');
  ip('-n', h1, 'link', 'set', 'eth0', 'up');
  ip('-n', h2, 'link', 'set', 'eth0', 'up');
  return [
    { ns: h1, underlayIp: '198.51.100.1' },
    { ns: h2, underlayIp: '198.51.100.2' },
  ];
}

/** One host whose eth0 is a veth with a dangling peer (`eth0p`), for single-host tests. */
export function makeOneHost(prefix: string): SimHost {
  const h = makeNs(`${prefix}-h1`);
  ip('-n', h, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth0p');
  ip('-n', h, 'addr', 'add', '198.51.100.1/24', 'dev', 'eth0');
  ip('-n', h, 'link', 'set', 'eth0', 'up');
  ip('-n', h, 'link', 'set', 'eth0p', 'up');
  return { ns: h, underlayIp: '198.51.100.1' };
}

/**
 * An underlay switch: a bridge in namespace `${prefix}-sw`; `attach(name, ip)`
 * creates namespace `${prefix}-${name}` with `eth0` at ip/24 plugged into it (the
 * peer made directly inside, so no link ever appears in the root namespace).
 */
export function makeSwitch(prefix: string): { attach(name: string, ip: string): string } {
  const sw = makeNs(`${prefix}-sw`);
  ip('-n', sw, 'link', 'add', 'br0', 'type', 'bridge');
  ip('-n', sw, 'link', 'set', 'br0', 'up');
  return {
    attach(name, addr) {
      const ns = makeNs(`${prefix}-${name}`);
      ip('-n', sw, 'link', 'add', `p-${name}`, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns);
      ip('-n', sw, 'link', 'set', `p-${name}`, 'master', 'br0', 'up');
      ip('-n', ns, 'addr', 'add', `${addr}/24`, 'dev', 'eth0');
      ip('-n', ns, 'link', 'set', 'eth0', 'up');
      return ns;
    },
  };
}

/**
 * The usual single-host setup: one simulated host, a data plane acting from it (closed,
 * and every namespace under `prefix` removed, at teardown), and the plane spec of one
 * network on it whose host subnet is `subnet` (gateway .1, VTEP .0).
 */
export function oneHostPlane(t: Test, prefix: string, net: { idChar: string; vni: number; subnet: string }): { host: SimHost; dp: NetlinkDataPlane; spec: NetworkPlaneSpec } {
  const host = makeOneHost(prefix);
  const dp = new NetlinkDataPlane({ agentNetns: host.ns });
  t.teardown(() => {
    dp.close();
    removeAll(prefix);
  });
  const base = net.subnet.replace(/\.0\/\d+$/, '');
  const spec: NetworkPlaneSpec = {
    netns: `${prefix}-h1.n-${net.idChar.repeat(12)}`,
    vni: net.vni,
    hostSubnet: net.subnet,
    gateway: `${base}.1`,
    vtepIp: `${base}.0`,
    mtu: 1450,
    underlayIp: host.underlayIp,
    underlayDevice: 'eth0',
  };
  return { host, dp, spec };
}

/** Removes every namespace whose name starts with `prefix` (test teardown). */
export function removeAll(prefix: string): void {
  for (const name of listNetns(prefix)) deleteNetns(name);
}

/** Docker-style MAC for an IPv4 address: 02:42 + its four bytes. */
export function macFor(ipText: string): string {
  return ['02', '42', ...ipText.split('.').map((o) => Number(o).toString(16).padStart(2, '0'))].join(':');
}

/** Milliseconds since `start` (from performance.now()), two decimals. */
export function msSince(start: number): number {
  return Math.round((performance.now() - start) * 100) / 100;
}

/** The i-th fake remote host: a /24 of 10.141.0.0/16 and up, a MAC derived from i (and macByte), a TEST-NET-3 underlay. */
export function peer(i: number, macByte = 0): Peer {
  const third = i & 255;
  const second = 141 + (i >> 8);
  return {
    subnet: `10.${second}.${third}.0/24`,
    vtepIp: `10.${second}.${third}.0`,
    vtepMac: `0a:${macByte.toString(16).padStart(2, '0')}:00:00:${((i >> 8) & 255).toString(16).padStart(2, '0')}:${third.toString(16).padStart(2, '0')}`,
    underlayIp: `203.0.113.${(i % 250) + 1}`,
  };
}

/** Order peers by subnet text, to compare lists read back from the kernel. */
export const bySubnet = (a: Peer, b: Peer): number => (a.subnet < b.subnet ? -1 : a.subnet > b.subnet ? 1 : 0);
