/**
 * Wire types of the engine's `stats` and `top` answers (GET /v1/containers/:ref/stats
 * and /top), and the arithmetic every reader of them needs (CPU %, memory %), so the
 * CLI and any other client compute them one way: docker's.
 */

/** One interface's counters, cumulative since it was made (the kernel's rtnl_link_stats). */
export interface InterfaceStats {
  rxBytes: number;
  rxPackets: number;
  rxErrors: number;
  rxDropped: number;
  txBytes: number;
  txPackets: number;
  txErrors: number;
  txDropped: number;
}

/**
 * One sample of a container's resource use, read from its cgroup and from its network
 * namespace. Counters are cumulative: rates and CPU % need two samples (cpuPercent).
 * A container that is not running has zeros and no networks.
 */
export interface ContainerStats {
  id: string;
  name: string;
  running: boolean;
  /** When the sample was read (ISO time). */
  read: string;
  cpu: {
    /** CPU time the container's processes used, ns (cgroup cpuacct.usage, or cpu.stat usage_usec on cgroup v2). */
    usageNs: number;
    /** CPU time of the whole host, all CPUs summed, ns (/proc/stat); the denominator of CPU %. */
    systemNs: number;
    /** CPUs online on the host. */
    onlineCpus: number;
  };
  memory: {
    /** Bytes charged to the container minus its inactive page cache (what `docker stats` shows). */
    usage: number;
    /** The container's memory limit in bytes; the host's memory when it has none. */
    limit: number;
  };
  /** Processes and threads in the container's cgroup. */
  pids: number;
  /** Interfaces of the container's network namespace, by name (no loopback); empty with --net host. */
  networks: Record<string, InterfaceStats>;
}

/**
 * CPU % between two samples of one container, as docker computes it: the container's
 * CPU time over the host's, times the CPUs online (so one busy CPU of four is 100 %).
 * 0 when the host's clock did not move or the samples are of different runs.
 */
export function cpuPercent(prev: ContainerStats['cpu'], cur: ContainerStats['cpu']): number {
  const container = cur.usageNs - prev.usageNs;
  const system = cur.systemNs - prev.systemNs;
  if (system <= 0 || container < 0) return 0;
  return (container / system) * cur.onlineCpus * 100;
}

/** Memory % of the limit (0 without a limit). */
export function memoryPercent(m: ContainerStats['memory']): number {
  return m.limit > 0 ? (m.usage / m.limit) * 100 : 0;
}

/** Bytes received and sent over all of the container's interfaces. */
export function networkTotals(s: Pick<ContainerStats, 'networks'>): { rxBytes: number; txBytes: number } {
  let rxBytes = 0;
  let txBytes = 0;
  for (const i of Object.values(s.networks)) {
    rxBytes += i.rxBytes;
    txBytes += i.txBytes;
  }
  return { rxBytes, txBytes };
}

/** One process of a container (`top`), from /proc. */
export interface TopProcess {
  /** Real user id, and its name on the engine's host (the number when it has none). */
  uid: number;
  user: string;
  /** Pids as the engine's host sees them (as `docker top` shows them). */
  pid: number;
  ppid: number;
  /** ps's C: CPU time over the process's lifetime, in whole percent. */
  c: number;
  /** When it started (ISO time). */
  startedAt: string;
  /** Its controlling terminal, e.g. "pts/0"; "?" without one. */
  tty: string;
  /** CPU time used (user + system), seconds. */
  cpuSeconds: number;
  /** Its command line; "[comm]" for a process without one (a kernel thread or a zombie). */
  cmd: string;
}

export interface ContainerTop {
  id: string;
  name: string;
  processes: TopProcess[];
}
