/**
 * Looking inside a lab's machines as a test: each lab host is a network namespace
 * plus mount and UTS namespaces held by a keeper process (packages/cli/src/lab/machine.ts),
 * so the daemons' own namespaces (/run/netns/vxnet-…) are visible only from inside.
 */
import { execFileSync, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

export interface ProcessJson {
  pid: number;
  startTime: number;
}
export interface DaemonJson {
  socket: string;
  stateDir: string;
  logFile: string;
  config: string;
  process?: ProcessJson;
}
export interface HostJson {
  name: string;
  netns: string;
  underlayIp: string;
  dir: string;
  keeper: ProcessJson;
  agent: DaemonJson;
  engine: DaemonJson;
  /** Labs made with --docker (packages/cli/src/lab/docker.ts): `socket` is inside the machine (/run/docker.sock). */
  docker?: { socket: string; logFile: string; config: string; cgroupParent: string; process?: ProcessJson };
  /** Labs made with --podman (packages/cli/src/lab/podman.ts): `cgroupRoot` is the host's cgroup tree in the root's view. */
  podman?: { cgroupRoot: string; containersDir: string; containersConf: string; image: string };
}
export interface LabJson {
  name: string;
  hosts: HostJson[];
  /** The lab's CA and certificates (packages/cli/src/lab/pki.ts); `admin` is etcdctl's and the CLI's. */
  pki?: { ca: string; clients: Record<string, { cert: string; key: string }> };
  store: { endpoints: string[]; netns: string };
  controller: DaemonJson & { url: string; tcpUrl: string; tokenFile: string; netns: string; keeper: ProcessJson };
  /** The outside (packages/cli/src/lab/outside.ts): `ip` answers tcp+udp echo on 7, discard on 9, HTTP on 80 (GET /ip: the client's address). */
  outside: {
    routerNetns: string; routerUnderlayIp: string; network: string; routerIp: string; netns: string; ip: string; logFile: string; process?: ProcessJson;
  };
}

export function readLab(home: string, lab: string): LabJson {
  return JSON.parse(readFileSync(join(home, 'labs', lab, 'lab.json'), 'utf8')) as LabJson;
}

export function labHost(state: LabJson, name: string): HostJson {
  const h = state.hosts.find((x) => x.name === name);
  if (!h) throw new Error(`no host ${name} in lab ${state.name}`);
  return h;
}

function enter(h: { keeper: ProcessJson }): string[] {
  const ns = `/proc/${h.keeper.pid}/ns`;
  return [`--net=${ns}/net`, `--mount=${ns}/mnt`, `--uts=${ns}/uts`, '--'];
}

/** Run a command on a lab host (as `vxnet lab exec`), returning stdout; throws on failure. */
export function onHost(h: { keeper: ProcessJson }, args: string[]): string {
  return execFileSync('nsenter', [...enter(h), ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Same, without throwing. */
export function tryOnHost(h: { keeper: ProcessJson }, args: string[]): SpawnSyncReturns<string> {
  return spawnSync('nsenter', [...enter(h), ...args], { encoding: 'utf8' });
}

/** The named namespaces of a lab host (its own /run/netns), sorted. */
export function hostNetns(h: { keeper: ProcessJson }): string[] {
  try {
    return readdirSync(`/proc/${h.keeper.pid}/root/run/netns`).sort();
  } catch {
    return [];
  }
}

/** Interface names inside namespace `netns` of a lab host. */
export function linksIn(h: { keeper: ProcessJson }, netns: string): string[] {
  const out = onHost(h, ['ip', '-j', '-n', netns, 'link', 'show']);
  return (JSON.parse(out) as Array<{ ifname: string }>).map((l) => l.ifname).sort();
}

/** nsenter options (ending in `--`) that put a command in lab host h's machine. */
export function enterArgs(h: { keeper: ProcessJson }): string[] {
  return enter(h);
}
