/**
 * The OCI runtime config (config.json) of a container, as runc 1.1 wants it
 * (shared/notes/kernel.md): absolute root.path, terminal off (stdio are files) unless asked for,
 * CAP_NET_RAW in the capability sets (busybox ping uses raw sockets only), the
 * network namespace joined by path (the sandbox made before the container), and the
 * per-container /etc files bind-mounted read-only over the image (read-only, or a loaded
 * image's container-own writable overlayfs).
 */

/** Docker's default capability set. */
export const DEFAULT_CAPABILITIES = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FSETID', 'CAP_FOWNER', 'CAP_MKNOD', 'CAP_NET_RAW', 'CAP_SETGID', 'CAP_SETUID',
  'CAP_SETFCAP', 'CAP_SETPCAP', 'CAP_NET_BIND_SERVICE', 'CAP_SYS_CHROOT', 'CAP_KILL', 'CAP_AUDIT_WRITE',
];

export const DEFAULT_PATH = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export interface SpecInput {
  id: string;
  /** Absolute path of the root filesystem. */
  rootfs: string;
  /** The root is the container's own overlayfs (a loaded image): writable. Default: read-only (shared busybox, --rootfs). */
  writableRoot?: boolean;
  args: string[];
  /** K=V entries, PATH and HOSTNAME added when absent. */
  env: string[];
  hostname: string;
  /** Working directory, absolute; default /. */
  cwd?: string;
  /** uid, gid and more groups of the process; default root. */
  user?: { uid: number; gid: number; additionalGids?: number[] };
  /** A pseudo-terminal for the process (runc then needs --console-socket). */
  terminal?: boolean;
  /** Network namespace to join; null = no network namespace of its own (the engine's, i.e. --net host). */
  netnsPath: string | null;
  /** Host files bind-mounted read-only at /etc/hosts, /etc/resolv.conf, /etc/hostname. */
  etcFiles: { hosts: string; resolvConf: string; hostname: string };
}

export interface OciSpec {
  ociVersion: string;
  process: Record<string, unknown> & { args: string[]; env: string[] };
  root: { path: string; readonly: boolean };
  hostname: string;
  mounts: Array<{ destination: string; type: string; source: string; options?: string[] }>;
  linux: Record<string, unknown> & { namespaces: Array<{ type: string; path?: string }> };
}

export function buildSpec(s: SpecInput): OciSpec {
  const env = [...s.env];
  if (!env.some((e) => e.startsWith('PATH='))) env.unshift(DEFAULT_PATH);
  if (!env.some((e) => e.startsWith('HOSTNAME='))) env.push(`HOSTNAME=${s.hostname}`);
  const bind = (destination: string, source: string) => ({ destination, type: 'bind', source, options: ['rbind', 'ro', 'nosuid', 'nodev', 'noexec'] });
  const namespaces: Array<{ type: string; path?: string }> = [{ type: 'pid' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }];
  if (s.netnsPath !== null) namespaces.push({ type: 'network', path: s.netnsPath });
  return {
    ociVersion: '1.0.2',
    process: {
      terminal: s.terminal === true,
      user: s.user ? { uid: s.user.uid, gid: s.user.gid, ...(s.user.additionalGids?.length ? { additionalGids: s.user.additionalGids } : {}) } : { uid: 0, gid: 0 },
      args: s.args,
      env,
      cwd: s.cwd ?? '/',
      capabilities: { bounding: DEFAULT_CAPABILITIES, effective: DEFAULT_CAPABILITIES, permitted: DEFAULT_CAPABILITIES },
      rlimits: [{ type: 'RLIMIT_NOFILE', hard: 1024, soft: 1024 }],
      noNewPrivileges: true,
    },
    root: { path: s.rootfs, readonly: s.writableRoot !== true },
    hostname: s.hostname,
    mounts: [
      { destination: '/proc', type: 'proc', source: 'proc' },
      { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
      { destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'] },
      { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'] },
      { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
      { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
      { destination: '/tmp', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', 'mode=1777', 'size=65536k'] },
      { destination: '/run', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', 'mode=755', 'size=16384k'] },
      bind('/etc/hosts', s.etcFiles.hosts),
      bind('/etc/resolv.conf', s.etcFiles.resolvConf),
      bind('/etc/hostname', s.etcFiles.hostname),
    ],
    linux: {
      // one flat cgroup per container: runc removes it when the container is destroyed, leaving no parent behind
      cgroupsPath: `/vxnet-${s.id}`,
      resources: { devices: [{ allow: false, access: 'rwm' }] },
      namespaces,
      maskedPaths: [
        '/proc/acpi', '/proc/asound', '/proc/kcore', '/proc/keys', '/proc/latency_stats', '/proc/timer_list', '/proc/timer_stats',
        '/proc/sched_debug', '/sys/firmware', '/proc/scsi',
      ],
      readonlyPaths: ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'],
    },
  };
}
