/**
 * A simulated machine of the lab: what a real host gives vxnet's daemons, so they run
 * with a real host's defaults and nothing lab-specific.
 *
 *   network   the lab namespace vx-<lab>.<name> (eth0 on the underlay switch)
 *   mounts    a mount namespace of its own (slave of the root's, like a container's):
 *               /run            a fresh tmpfs, so /run/netns (the daemons' namespaces)
 *                               and everything else under /run belong to this machine
 *               /run/vxnet      bind of <dir>/run: sockets, reachable from the root
 *                               namespace at the same file names
 *               /var/lib/vxnet  bind of <dir>/lib: the daemons' state
 *               /dev/shm        a fresh tmpfs (podman's lock segment, libpod_lock, is here)
 *               /etc/cni/net.d, /opt/cni/bin, /var/lib/cni, /var/lib/containers
 *                               binds of <dir>/fs/<path>, empty at first: a host's CNI
 *                               configs, plugins and cache (host-local's leases), and
 *                               podman's storage and database. Without them two hosts
 *                               would share one podman (a container made on h1 listed
 *                               on h2) and each other's networks. Podman's other state
 *                               is under /run. Done for every machine: four mounts, and
 *                               a host looks like a real one whether or not podman is
 *                               used (`lab up --podman` adds the rest, podman.ts).
 *   hostname  a UTS namespace with the machine's name (the daemons' default host name)
 *
 * A keeper process (`sleep infinity`) holds the mount and UTS namespaces; daemons and
 * `lab exec` join them with `nsenter`. When the keeper and everything in the machine
 * have ended, the kernel frees its mounts and with them the namespaces the daemons
 * made: removing a machine is ending its processes, found by namespace (sweep()).
 *
 * Every command here is an argv array of fixed words and paths the lab derived from
 * a validated lab name; nothing goes through a shell.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, readlinkSync, statSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { join } from 'node:path';
import { isAlive, recordProcess, spawnDaemon, stopProcess, type ProcessRecord } from '@vxnet/common';
import { CommandFailed } from '../errors.js';
import { netnsPath } from './ip.js';

/** Where a machine's /var/lib/vxnet mounts: it must exist in the root file system. */
const VAR_LIB_VXNET = '/var/lib/vxnet';

/**
 * A host's own container and CNI state, each bound from <dir>/fs/<path>. The mount
 * targets are made in the root file system only when missing (empty directories);
 * nothing is ever written into the root's copies.
 */
export const HOST_STATE_PATHS = ['/etc/cni/net.d', '/opt/cni/bin', '/var/lib/cni', '/var/lib/containers'] as const;

export interface MachineDirs {
  /** <lab dir>/<name>: config files and logs. */
  dir: string;
  /** Bound on /run/vxnet inside the machine. */
  run: string;
  /** Bound on /var/lib/vxnet inside the machine. */
  lib: string;
  /** <dir>/fs: HOST_STATE_PATHS below it are bound on those paths inside the machine. */
  fs: string;
}

export function machineDirs(labDir: string, name: string): MachineDirs {
  const dir = join(labDir, name);
  return { dir, run: join(dir, 'run'), lib: join(dir, 'lib'), fs: join(dir, 'fs') };
}

/** nsenter arguments that put a command inside the machine held by `keeper`. */
export function enterArgs(keeper: ProcessRecord): string[] {
  const ns = `/proc/${keeper.pid}/ns`;
  return [`--net=${ns}/net`, `--mount=${ns}/mnt`, `--uts=${ns}/uts`];
}

function run(cmd: string, args: string[]): void {
  try {
    execFileSync(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (err) {
    const e = err as { stderr?: Buffer; message: string };
    throw new CommandFailed(`${cmd} ${args.join(' ')}`, (e.stderr?.toString() || e.message).trim());
  }
}

/**
 * Start the keeper of machine `name` in the network namespace `netns` and give it its
 * mounts and host name. The caller records the returned process at once.
 */
export function startMachine(name: string, netns: string, dirs: MachineDirs, logFile: string): ProcessRecord {
  for (const d of [dirs.run, dirs.lib]) mkdirSync(d, { recursive: true, mode: 0o755 });
  for (const p of HOST_STATE_PATHS) mkdirSync(join(dirs.fs, p), { recursive: true, mode: 0o755 });
  // mount targets: made only where missing (recursive mkdir leaves existing ones alone)
  for (const p of [VAR_LIB_VXNET, ...HOST_STATE_PATHS]) mkdirSync(p, { recursive: true, mode: 0o755 });
  return spawnDaemon({
    command: 'unshare',
    args: ['--mount', '--uts', '--propagation', 'slave', '--', 'sleep', 'infinity'],
    logFile,
    netnsPath: netnsPath(netns),
    detached: true,
  });
}

/**
 * Wait until the keeper is `sleep` in namespaces of its own: right after spawn the pid
 * may still be nsenter or unshare in the root's mount namespace, and mounting "there"
 * would cover the root's /run.
 */
async function waitOwnNamespaces(keeper: ProcessRecord): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (!isAlive(keeper)) throw new CommandFailed('starting a lab machine', `its keeper (pid ${keeper.pid}) exited`);
    let comm = '';
    try {
      comm = readFileSync(`/proc/${keeper.pid}/comm`, 'utf8').trim();
    } catch {
      // gone: caught by isAlive above on the next round
    }
    const own = (ns: string) => {
      const theirs = nsInode(`/proc/${keeper.pid}/ns/${ns}`);
      return theirs !== undefined && theirs !== nsInode(`/proc/self/ns/${ns}`);
    };
    if (comm === 'sleep' && own('mnt') && own('uts')) return;
    if (Date.now() > deadline) throw new CommandFailed('starting a lab machine', `its keeper (pid ${keeper.pid}) did not enter its own namespaces within 10 s`);
    await sleep(5);
  }
}

/** Mounts and host name of a started machine (see the file comment). Throws CommandFailed. */
export async function setupMachine(name: string, keeper: ProcessRecord, dirs: MachineDirs): Promise<void> {
  await waitOwnNamespaces(keeper);
  const inside = ['--mount=' + `/proc/${keeper.pid}/ns/mnt`, '--uts=' + `/proc/${keeper.pid}/ns/uts`, '--'];
  run('nsenter', [...inside, 'mount', '-t', 'tmpfs', '-o', 'mode=0755,size=64m', 'tmpfs', '/run']);
  // the new /run, seen through the keeper's root
  for (const d of ['netns', 'vxnet']) mkdirSync(join(`/proc/${keeper.pid}/root/run`, d), { mode: 0o755 });
  run('nsenter', [...inside, 'mount', '--bind', dirs.run, '/run/vxnet']);
  run('nsenter', [...inside, 'mount', '--bind', dirs.lib, VAR_LIB_VXNET]);
  run('nsenter', [...inside, 'mount', '-t', 'tmpfs', '-o', 'mode=1777,size=64m', 'shm', '/dev/shm']);
  for (const p of HOST_STATE_PATHS) run('nsenter', [...inside, 'mount', '--bind', join(dirs.fs, p), p]);
  run('nsenter', [...inside, 'hostname', name]);
}

/** Start `command` inside the machine (network, mounts, host name), output to `logFile`. */
export function spawnInMachine(keeper: ProcessRecord, command: string[], logFile: string): ProcessRecord {
  const [cmd, ...args] = command;
  if (!cmd) throw new TypeError('spawnInMachine: empty command');
  const ns = `/proc/${keeper.pid}/ns`;
  return spawnDaemon({ command: cmd, args, logFile, netnsPath: `${ns}/net`, mountnsPath: `${ns}/mnt`, utsnsPath: `${ns}/uts`, detached: true });
}

function nsInode(path: string): string | undefined {
  try {
    return readlinkSync(path);
  } catch {
    return undefined;
  }
}

/**
 * End every process of a machine: those in its network namespace, in any namespace
 * mounted under its /run/netns (agents' networks, containers' sandboxes), or in its
 * mount namespace; the keeper last. Returns the pids ended. Idempotent.
 */
export async function sweepMachine(netns: string, keeper: ProcessRecord | undefined): Promise<number[]> {
  const nets = new Set<string>();
  let mnt: string | undefined;
  try {
    nets.add(`net:[${statSync(netnsPath(netns)).ino}]`);
  } catch {
    // namespace already gone
  }
  if (keeper && isAlive(keeper)) {
    mnt = nsInode(`/proc/${keeper.pid}/ns/mnt`);
    const dir = `/proc/${keeper.pid}/root/run/netns`;
    let names: string[] = [];
    try {
      names = readdirSync(dir);
    } catch {
      // no namespaces made
    }
    for (const n of names) {
      try {
        nets.add(`net:[${statSync(join(dir, n)).ino}]`);
      } catch {
        // removed meanwhile
      }
    }
  }
  const findAll = (): ProcessRecord[] => {
    const found: ProcessRecord[] = [];
    for (const entry of readdirSync('/proc')) {
      if (!/^[0-9]+$/.test(entry)) continue;
      const pid = Number(entry);
      if (pid === process.pid || pid === keeper?.pid) continue;
      const net = nsInode(`/proc/${pid}/ns/net`);
      const inMachine = (net !== undefined && nets.has(net)) || (mnt !== undefined && nsInode(`/proc/${pid}/ns/mnt`) === mnt);
      if (!inMachine) continue;
      try {
        found.push(recordProcess(pid, 'process in a lab machine'));
      } catch {
        // exited meanwhile
      }
    }
    return found;
  };
  // again until a round finds nothing: an ending process may start another (conmon runs
  // `podman container cleanup` when its container exits, podman.ts), after the round that
  // ended it had listed the machine
  const ended: number[] = [];
  for (let round = 0; round < 5; round++) {
    const found = findAll();
    if (found.length === 0) break;
    await Promise.all(found.map((rec) => stopProcess(rec, 2000)));
    ended.push(...found.map((r) => r.pid));
  }
  if (keeper && isAlive(keeper)) {
    await stopProcess(keeper, 1000);
    ended.push(keeper.pid);
  }
  return ended;
}
