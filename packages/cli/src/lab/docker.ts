/**
 * Docker on the lab's hosts (`vxnet lab up --docker`, issue 11): each host machine also
 * runs a dockerd (Debian's docker.io 20.10), as a real host with Docker does, so vxnet's
 * Docker network and IPAM plugin, which the host's agent serves on
 * /run/docker/plugins/vxnet.sock, meets the real thing.
 *
 *   dockerd          in the host's machine (machine.ts): its network and host name, and
 *                    a mount namespace of its own below the machine's (see below)
 *   /run/docker.sock its API, in the machine's /run as on a real host: the agent reads
 *                    Docker's events there; from the root namespace it is
 *                    /proc/<keeper>/root/run/docker.sock (`vxnet lab docker` uses it)
 *   /run/docker/plugins  the machine's too, so each dockerd finds only its own host's
 *                    plugin socket (the directory is hard-coded in dockerd)
 *   <host>/docker/   daemon.json (every setting: dockerd runs with --config-file and
 *                    nothing else), data root, exec root, log
 *   cgroups          --cgroup-parent /vx-<lab>.<host> (cgroupfs driver): every container
 *                    of this dockerd is under it, which is how `lab down` finds them
 *
 * Order (interop trap D7: a dockerd whose plugin is gone hangs on it): the agent starts
 * before dockerd and dockerd stops before the agent, in `lab up`, `lab down` and the
 * sweep after a failed `lab up`.
 *
 * Why a mount namespace of its own (as shared/anchors/docker/daemons.sh, where one
 * dockerd per namespace was measured on this machine kind): dockerd gets a fresh sysfs on
 * /sys, so /sys/class/net lists the host's interfaces as `ip netns exec` would show
 * them, with the cgroup hierarchies bound back on /sys/fs/cgroup; and its own mounts
 * (image layers, sandbox namespaces) stay out of the machine where the vxnet daemons run.
 * It is a slave of the machine's namespace and /run is one tmpfs, so files under /run
 * (sockets) are the same for dockerd and the agent.
 *
 * iptables: on, as on a real host. Docker's rules land in the host's network namespace
 * only; the root namespace's ruleset is never touched (the test checks it). Docker sets
 * FORWARD's policy to DROP only when it is the one turning IPv4 forwarding on
 * (libnetwork bridge/setup_ip_forwarding.go); the agent, started first, has already
 * turned it on, as it would on a real host where vxnet starts before Docker.
 */
import { request } from 'node:http';
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { VXNET_DNS_ADDRESS, isAlive, stopProcess, writeJsonAtomic, type ProcessRecord } from '@vxnet/common';
import { CommandFailed, DockerNotInstalled } from '../errors.js';
import { killCgroup } from './cgroup.js';
import { spawnInMachine } from './machine.js';
import type { LabDockerd, LabHost } from './lab-state.js';

/** dockerd's API socket inside a machine, as on a real host. */
export const DOCKER_SOCKET = '/run/docker.sock';

/**
 * Runs as `sh -c LAUNCH vxnet-dockerd BIND DOCKERD ARGS…` in dockerd's fresh mount
 * namespace: hold the cgroup tree on BIND, mount the host's sysfs on /sys, put the
 * cgroup tree back, then become dockerd (same pid: the lab records it before waiting).
 * Fixed text; paths arrive as arguments, never inside the script.
 */
const LAUNCH = 'set -e; mount --rbind /sys/fs/cgroup "$1"; mount -t sysfs sysfs /sys; mount --rbind "$1" /sys/fs/cgroup; shift; exec "$@"';

/** How long dockerd may take to stop, ms: its own shutdown timeout (15 s) plus margin. */
const STOP_GRACE_MS = 25_000;

function onPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(':').filter(Boolean)) {
    const candidate = join(dir, name);
    if (existsSync(candidate)) return candidate;
  }
  return undefined;
}

/**
 * The installed dockerd and the docker CLI that came with it: Debian's docker.io puts
 * dockerd in /usr/sbin and docker in /usr/bin; another `docker` earlier on PATH (a
 * newer CLI in /usr/local/bin, say) is not the one that belongs to this daemon.
 * Throws DockerNotInstalled naming what is missing.
 */
export function dockerTools(): { dockerd: string; docker: string } {
  const dockerd = onPath('dockerd');
  const missing = ['containerd', 'runc'].filter((t) => onPath(t) === undefined);
  if (!dockerd) missing.unshift('dockerd');
  const beside = dockerd ? join(dirname(dirname(dockerd)), 'bin', 'docker') : undefined;
  const docker = beside && existsSync(beside) ? beside : onPath('docker');
  if (!docker) missing.push('docker');
  if (missing.length > 0 || !dockerd || !docker) throw new DockerNotInstalled(missing.join(', '));
  return { dockerd, docker };
}

/** What a host's dockerd will be (paths under `hostDir`), recorded before anything is made. */
export function planDockerd(lab: string, host: string, hostDir: string): LabDockerd {
  const dir = join(hostDir, 'docker');
  return {
    config: join(dir, 'daemon.json'),
    command: [],
    logFile: join(dir, 'dockerd.log'),
    socket: DOCKER_SOCKET,
    dataRoot: join(dir, 'data'),
    execRoot: join(dir, 'exec'),
    cgroupBind: join(dir, 'cgroup-bind'),
    cgroupParent: `/vx-${lab}.${host}`,
  };
}

/**
 * dockerd's daemon.json: what a real host's /etc/docker/daemon.json would say, plus
 * the paths that keep three dockerds on one machine apart.
 */
export function dockerdConfig(d: LabDockerd): Record<string, unknown> {
  return {
    'data-root': d.dataRoot,
    'exec-root': d.execRoot,
    pidfile: join(dirname(d.config), 'dockerd.pid'),
    hosts: [`unix://${d.socket}`],
    // the anchor's driver: $VXNET_HOME must not itself be on overlayfs (a container's root file system)
    'storage-driver': 'overlay2',
    'exec-opts': ['native.cgroupdriver=cgroupfs'],
    'cgroup-parent': d.cgroupParent,
    // vxnet's DNS on every vxnet network (common/dns-address.ts): Docker's embedded DNS forwards
    // the names it does not know there, from inside the container, so no per-container --dns
    dns: [VXNET_DNS_ADDRESS],
    // dockerd 20.10 writes its libtrust key to /etc/docker/key.json otherwise: shared by every daemon, left behind
    'deprecated-key-path': join(dirname(d.config), 'key.json'),
  };
}

/** Write daemon.json and the command line (`command`), ready for startDockerd. */
export function prepareDockerd(d: LabDockerd, dockerd: string): void {
  writeJsonAtomic(d.config, dockerdConfig(d));
  d.command = ['unshare', '--mount', '--propagation', 'slave', '--', 'sh', '-c', LAUNCH, 'vxnet-dockerd', d.cgroupBind, dockerd, '--config-file', d.config];
}

/** Start a prepared dockerd in the host's machine; the caller records the process at once. */
export function startDockerd(host: LabHost, d: LabDockerd): ProcessRecord {
  if (!host.keeper || !isAlive(host.keeper)) {
    throw new CommandFailed(`starting dockerd on ${host.name}`, 'the machine is gone (its keeper is not running); run `vxnet lab down` and `lab up` again');
  }
  for (const dir of [d.dataRoot, d.execRoot, d.cgroupBind]) mkdirSync(dir, { recursive: true, mode: 0o711 });
  return { ...spawnInMachine(host.keeper, d.command, d.logFile), command: 'dockerd' };
}

/** dockerd's socket as reachable from the root namespace, through the machine's keeper. */
export function dockerSocketFromRoot(host: Pick<LabHost, 'keeper'>, d: Pick<LabDockerd, 'socket'>): string {
  if (!host.keeper) throw new CommandFailed('finding dockerd\'s socket', 'the machine was never started');
  return `/proc/${host.keeper.pid}/root${d.socket}`;
}

interface DockerResponse {
  status: number;
  body: string;
}

/** One request to a Docker API socket; `body` is sent as is. Rejects on connection errors and after `timeoutMs`. */
export function dockerApi(socketPath: string, method: string, path: string, body?: Buffer, timeoutMs = 5000): Promise<DockerResponse> {
  return new Promise((resolve, reject) => {
    const req = request({
      socketPath, method, path, timeout: timeoutMs,
      headers: body ? { 'content-type': 'application/x-tar', 'content-length': body.length } : {},
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end(body);
  });
}

/** Poll GET /_ping until dockerd answers OK (60 s, like the vxnet daemons); throws CommandFailed. */
export async function waitDockerd(what: string, host: LabHost, d: LabDockerd, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const socket = dockerSocketFromRoot(host, d);
  let last = '';
  while (Date.now() < deadline) {
    if (!d.process || !isAlive(d.process)) throw new CommandFailed(what, `it exited at start (see ${d.logFile})`);
    try {
      const r = await dockerApi(socket, 'GET', '/_ping');
      if (r.status === 200 && r.body === 'OK') return;
      last = `GET /_ping answered ${r.status} ${r.body.slice(0, 200)}`;
    } catch (err) {
      last = (err as Error).message;
    }
    await sleep(50);
  }
  throw new CommandFailed(what, `not answering after ${timeoutMs} ms: ${last} (see ${d.logFile})`);
}

/**
 * Import an image archive into a host's dockerd as `image` (name:tag). Equivalent to:
 * docker -H unix://SOCKET import ARCHIVE NAME:TAG
 */
export async function importImage(host: LabHost, d: LabDockerd, archive: Buffer, image: string): Promise<void> {
  const [repo, tag = 'latest'] = image.split(':');
  const path = `/images/create?fromSrc=-&repo=${encodeURIComponent(repo ?? '')}&tag=${encodeURIComponent(tag)}`;
  const r = await dockerApi(dockerSocketFromRoot(host, d), 'POST', path, archive, 60_000);
  // the answer is a stream of JSON messages; a failure is a message with "error"
  const failed = r.body.split('\n').filter(Boolean).map((l) => {
    try {
      return (JSON.parse(l) as { error?: string }).error;
    } catch {
      return undefined;
    }
  }).find((e) => e !== undefined);
  if (r.status !== 200 || failed) throw new CommandFailed(`importing ${image} into dockerd on ${host.name}`, failed ?? `HTTP ${r.status}: ${r.body.slice(0, 300)}`);
}

/**
 * Stop a host's dockerd: SIGTERM, as systemd would. dockerd then stops its containers
 * (each gets SIGTERM and its stop timeout, 10 s by default), leaves their networks
 * (Leave, DeleteEndpoint, ReleaseAddress: the plugin must still be up) and stops its
 * containerd. With `endContainers`, what dockerd would do after the stop timeouts is
 * done at once: every process under its cgroup parent gets SIGKILL until dockerd has
 * exited, so `lab down` does not wait 10 s on a container that ignores SIGTERM (a shell
 * as pid 1). SIGKILL after `graceMs` (default STOP_GRACE_MS). Not running is success.
 */
export async function stopDockerd(d: LabDockerd, opts: { endContainers: boolean; graceMs?: number }): Promise<void> {
  const rec = d.process;
  if (!rec || !isAlive(rec)) return;
  const grace = opts.graceMs ?? STOP_GRACE_MS;
  if (!opts.endContainers) return stopProcess(rec, grace);
  try {
    process.kill(rec.pid, 'SIGTERM');
  } catch {
    return; // gone
  }
  const deadline = Date.now() + grace;
  // the first round only after dockerd has seen SIGTERM, so it does not restart them (restart policies)
  await sleep(100);
  while (isAlive(rec) && Date.now() < deadline) {
    killCgroup(d.cgroupParent);
    await sleep(100);
  }
  await stopProcess(rec, 0);
}
