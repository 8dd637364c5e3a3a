/**
 * Podman on the lab's hosts (`vxnet lab up --podman`, issue 12): Debian's podman 4.3.1
 * with its CNI backend (no netavark installed) runs inside each host's machine as on a
 * real host, so vxnet's CNI plugin meets a real runtime. Podman has no daemon: every
 * `podman` command is a process in the machine (`vxnet lab podman HOST -- ARGS` is
 * nsenter + podman), and each container is a conmon in the machine plus runc's
 * container in namespaces of its own.
 *
 * What a host's podman has to itself:
 *   state       /var/lib/containers (storage, the database), /etc/cni/net.d,
 *               /opt/cni/bin, /var/lib/cni, /dev/shm (the lock segment) and /run
 *               (runroot, tmp_dir, the containers' /run/netns/netns-<uuid>): the
 *               machine's own, for every lab (machine.ts)
 *   config      /etc/containers: a copy of the root's (registries, policy) plus a
 *               containers.conf written here with every setting that differs from a
 *               real host stated (containersConf)
 *   cgroups     the host's cgroup tree: in the machine, each hierarchy's mount is
 *               replaced by a bind of its /vx-<lab>.<host> directory, so podman's
 *               /libpod_parent/libpod-<id> and /libpod_parent/conmon (cgroupfs: there
 *               is no systemd in a machine) are under /vx-<lab>.<host> in the real
 *               tree; `lab down` kills what is left there and removes it
 *   image       localhost/vxnet-busybox:latest, `podman import` of docker-image.ts's
 *               archive
 *
 * Why replace the cgroup mounts and not bind over them: runc finds the mount of a
 * hierarchy in /proc/self/mountinfo and takes the first one; with the original still
 * underneath, it pairs the mount's root "/" with the bound directory and looks for
 * /sys/fs/cgroup/cpu/vx-<lab>.<host>/libpod_parent/… when it mounts cgroups into a
 * container (measured: "error mounting "cgroup" to rootfs"). With only the bind left,
 * mountinfo says root /vx-<lab>.<host>, which runc subtracts. The other daemons of the
 * machine (agent, engine) see the same view: in a `--podman` lab the engine's
 * /vxnet-<id> cgroups are under the host's tree too.
 *
 * Order: containers go before the agent, in `lab down` and in the sweep after a failed
 * `lab up`: removing a container runs its CNI DEL, which vxnet's plugin forwards to the
 * agent.
 *
 * Every command is an argv array of fixed words and paths derived from a validated lab
 * name; nothing goes through a shell. User arguments (`lab podman`) go to podman as argv.
 */
import { execFileSync, spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isAlive, type Logger, type ProcessRecord } from '@vxnet/common';
import { CommandFailed, PodmanNotInstalled } from '../errors.js';
import { cgroupMounts } from './cgroup.js';
import type { LabHost, LabPodman } from './lab-state.js';
import { enterArgs } from './machine.js';

/** The image every lab podman has (`vxnet lab podman h1 -- run vxnet-busybox …`). */
export const LAB_PODMAN_IMAGE = 'localhost/vxnet-busybox:latest';

/** Podman's configuration directory: bound from the host's fs/etc/containers. */
const ETC_CONTAINERS = '/etc/containers';

/** Podman's database in a host's storage: present once podman has run there. */
const PODMAN_DB = 'var/lib/containers/storage/libpod/bolt_state.db';

function onPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(':').filter(Boolean)) {
    const candidate = join(dir, name);
    if (existsSync(candidate)) return candidate;
  }
  return undefined;
}

/** The installed podman, checked with what it runs containers with. Throws PodmanNotInstalled naming what is missing. */
export function podmanTools(): { podman: string } {
  const podman = onPath('podman');
  const missing = ['podman', 'conmon', 'runc'].filter((t) => onPath(t) === undefined);
  if (!existsSync('/usr/lib/cni/bridge')) missing.push('/usr/lib/cni (containernetworking-plugins)');
  if (missing.length > 0 || !podman) throw new PodmanNotInstalled(missing.join(', '));
  return { podman };
}

/** What a host's podman will be (paths under `hostDir`), recorded before anything is made. */
export function planPodman(lab: string, host: string, hostDir: string): LabPodman {
  const etc = join(hostDir, 'fs', ETC_CONTAINERS);
  return { cgroupRoot: `/vx-${lab}.${host}`, containersDir: etc, containersConf: join(etc, 'containers.conf'), image: LAB_PODMAN_IMAGE };
}

/** A hard limit of this process from /proc/self/limits ("Max open files", "Max processes"); undefined when unlimited or unreadable. */
function hardLimit(name: string): number | undefined {
  try {
    const line = readFileSync('/proc/self/limits', 'utf8').split('\n').find((l) => l.startsWith(name));
    const hard = line?.slice(name.length).trim().split(/\s+/)[1];
    return hard && /^[0-9]+$/.test(hard) ? Number(hard) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The host's containers.conf. Podman picks cgroupfs, the file event logger and k8s-file
 * logs by itself where there is no systemd or journald (as in a machine); they are
 * written anyway so the lab does not depend on that detection.
 *
 * default_ulimits: as root, podman gives every container nofile=1048576 and nproc
 * 4194304 unless told otherwise, and runc sets them with prlimit; raising a hard limit
 * needs CAP_SYS_RESOURCE, which root lacks on this machine kind (measured: "error
 * setting rlimit type 7: operation not permitted" on every `podman run`). So containers
 * get the hard limits the lab itself runs with; nproc also no more than pid_max,
 * which is what podman lowers its own to (measured: podman and conmon at 32768 =
 * pid_max while the shell had 96364).
 */
export function containersConf(limits: { nofile?: number; nproc?: number }): string {
  const ulimits = [
    ...(limits.nofile !== undefined ? [`"nofile=${limits.nofile}:${limits.nofile}"`] : []),
    ...(limits.nproc !== undefined ? [`"nproc=${limits.nproc}:${limits.nproc}"`] : []),
  ];
  return [
    '# written by `vxnet lab up --podman` (packages/cli/src/lab/podman.ts) for this lab host only',
    '[containers]',
    `default_ulimits = [${ulimits.join(', ')}]`,
    'log_driver = "k8s-file"',
    '',
    '[network]',
    '# no netavark installed: CNI, with the host\'s own /etc/cni/net.d and the plugin directories podman searches',
    'network_backend = "cni"',
    'network_config_dir = "/etc/cni/net.d/"',
    'cni_plugin_dirs = ["/usr/local/libexec/cni", "/usr/libexec/cni", "/usr/local/lib/cni", "/usr/lib/cni", "/opt/cni/bin"]',
    'default_network = "podman"',
    '',
    '[engine]',
    'cgroup_manager = "cgroupfs"',
    'events_logger = "file"',
    'runtime = "runc"',
    '',
  ].join('\n');
}

function limitsForContainers(): { nofile?: number; nproc?: number } {
  const nofile = hardLimit('Max open files');
  let nproc = hardLimit('Max processes');
  try {
    const pidMax = Number(readFileSync('/proc/sys/kernel/pid_max', 'utf8').trim());
    if (Number.isInteger(pidMax) && pidMax > 0) nproc = Math.min(nproc ?? pidMax, pidMax);
  } catch {
    // keep the process's limit
  }
  return { ...(nofile !== undefined ? { nofile } : {}), ...(nproc !== undefined ? { nproc } : {}) };
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
 * Give a started machine what podman needs (see the file comment): the host's
 * /etc/containers and its cgroup tree. Run before any podman command on the host and
 * before the machine's daemons start, so every process in it sees one cgroup view.
 * Throws CommandFailed.
 */
export function setupPodmanHost(host: LabHost, p: LabPodman): void {
  const keeper = host.keeper;
  if (!keeper || !isAlive(keeper)) throw new CommandFailed(`preparing podman on ${host.name}`, 'the machine is gone (its keeper is not running)');
  const inside = [`--mount=/proc/${keeper.pid}/ns/mnt`, '--'];

  // /etc/containers: the root's registries and policy, plus this host's containers.conf
  mkdirSync(p.containersDir, { recursive: true, mode: 0o755 });
  if (existsSync(ETC_CONTAINERS)) cpSync(ETC_CONTAINERS, p.containersDir, { recursive: true, force: false, errorOnExist: false });
  writeFileSync(p.containersConf, containersConf(limitsForContainers()), { mode: 0o644 });
  run('nsenter', [...inside, 'mount', '--bind', p.containersDir, ETC_CONTAINERS]);

  // the host's cgroup tree, made in every hierarchy (root view), then swapped in
  const mounts = cgroupMounts();
  for (const m of mounts) {
    const dir = join(m, p.cgroupRoot);
    mkdirSync(dir, { recursive: true });
    // cgroup v1 cpuset: a new cgroup starts with no CPUs and no memory nodes, and runc
    // copies them into a container's cgroup from its parent only up to the mount's root
    for (const f of ['cpuset.cpus', 'cpuset.mems']) {
      const own = join(dir, f);
      if (existsSync(own) && readFileSync(own, 'utf8').trim() === '') writeFileSync(own, readFileSync(join(m, f), 'utf8'));
    }
  }
  const stage = join(`/proc/${keeper.pid}/root/run`, '.vxnet-cgroup');
  mkdirSync(stage, { mode: 0o700 });
  mounts.forEach((m, i) => {
    mkdirSync(join(stage, String(i)));
    run('nsenter', [...inside, 'mount', '--bind', join(m, p.cgroupRoot), join('/run/.vxnet-cgroup', String(i))]);
  });
  // umount in reverse, so a hierarchy mounted below another (a v2 root with v1 under it) goes first
  [...mounts].reverse().forEach((m) => run('nsenter', [...inside, 'umount', m]));
  mounts.forEach((m, i) => {
    run('nsenter', [...inside, 'mount', '--move', join('/run/.vxnet-cgroup', String(i)), m]);
    rmdirSync(join(stage, String(i)));
  });
  rmdirSync(stage);
}

export interface PodmanResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Run `podman ARGS` in a host's machine (network, mounts, host name), `input` on its
 * stdin. Never rejects: a failure to start or a timeout is code 1 or 124 with the
 * reason in stderr.
 */
export function podmanIn(keeper: ProcessRecord, args: string[], opts: { input?: Buffer; timeoutMs?: number } = {}): Promise<PodmanResult> {
  return new Promise((resolve) => {
    const child = spawn('nsenter', [...enterArgs(keeper), '--', 'podman', ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, opts.timeoutMs ?? 60_000);
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    child.stdin.on('error', () => { /* podman exited before reading all of it: its exit code says why */ });
    child.on('error', (e) => {
      clearTimeout(timer);
      resolve({ code: 1, stdout: '', stderr: e.message });
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      const stderr = Buffer.concat(err).toString('utf8') + (timedOut ? `\n(podman ${args[0] ?? ''} killed after ${opts.timeoutMs ?? 60_000} ms)` : '');
      resolve({ code: timedOut ? 124 : (code ?? 1), stdout: Buffer.concat(out).toString('utf8'), stderr });
    });
    child.stdin.end(opts.input);
  });
}

/**
 * Import an image archive into a host's podman as `image`. Equivalent to:
 * nsenter (the host's machine) -- podman import - IMAGE < ARCHIVE
 */
export async function importPodmanImage(host: LabHost, archive: Buffer, image: string): Promise<void> {
  if (!host.keeper) throw new CommandFailed(`importing ${image} into podman on ${host.name}`, 'the machine was never started');
  const r = await podmanIn(host.keeper, ['import', '--quiet', '-', image], { input: archive });
  if (r.code !== 0) throw new CommandFailed(`importing ${image} into podman on ${host.name}`, r.stderr.trim() || `exit code ${r.code}`);
}

/**
 * Remove every pod and container of a host's podman at once (SIGKILL, no stop
 * timeout), as `lab down` must before the agent stops: removing a container runs its
 * CNI DEL. Only where podman has run (its database exists), so a lab that never used
 * podman pays nothing. Returns the ids of containers still listed afterwards (empty
 * when all went). Idempotent; never throws.
 * Equivalent to: podman pod rm -af -t 0; podman rm -af -t 0; podman ps -aq
 */
export async function removePodmanContainers(host: LabHost, log: Logger): Promise<string[]> {
  if (!host.keeper || !isAlive(host.keeper)) return [];
  if (!existsSync(join(host.dir, 'fs', PODMAN_DB)) || onPath('podman') === undefined) return [];
  for (const args of [['pod', 'rm', '--all', '--force', '--time', '0'], ['rm', '--all', '--force', '--time', '0']]) {
    const r = await podmanIn(host.keeper, args);
    if (r.code !== 0) log.warn({ host: host.name, args, code: r.code, stderr: r.stderr.trim() }, 'podman could not remove everything');
  }
  const left = await podmanIn(host.keeper, ['ps', '--all', '--quiet', '--no-trunc']);
  return left.stdout.split('\n').filter(Boolean);
}
