/**
 * Where a process's cgroup is and what it says: cgroup v1 (one hierarchy per
 * controller, as on this project's hosts: /sys/fs/cgroup/memory/vxnet-<id> …), cgroup
 * v2 (one unified hierarchy) and the hybrid of both (v1 controllers plus an empty v2
 * tree at /sys/fs/cgroup/unified).
 *
 * The engine does not assume where runc put a container: it reads the init's
 * /proc/PID/cgroup (its path in each hierarchy) and /proc/self/mountinfo (where each
 * hierarchy is mounted, and which subtree of it), so the systemd cgroup driver, a
 * nested engine whose mounts show a subtree, and v2 hosts all work. A controller is
 * read from its v1 hierarchy when one is mounted, else from the v2 tree.
 *
 * By hand: `cat /proc/PID/cgroup`, then e.g.
 *   cat /sys/fs/cgroup/cpuacct/vxnet-ID/cpuacct.usage     (v1; v2: cpu.stat usage_usec)
 *   cat /sys/fs/cgroup/memory/vxnet-ID/memory.usage_in_bytes   (v2: memory.current)
 *   cat /sys/fs/cgroup/pids/vxnet-ID/pids.current cgroup.procs
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** A process's cgroup paths: per v1 controller (and named hierarchy, "name=systemd"), and its v2 path. */
export interface ProcCgroup {
  v1: Map<string, string>;
  v2?: string;
}

/** Parse /proc/PID/cgroup: `hierarchy-id:controller,list:path` lines; v2's is `0::path`. */
export function parseProcCgroup(text: string): ProcCgroup {
  const out: ProcCgroup = { v1: new Map() };
  for (const line of text.split('\n')) {
    const first = line.indexOf(':');
    const second = line.indexOf(':', first + 1);
    if (first < 0 || second < 0) continue;
    const controllers = line.slice(first + 1, second);
    const path = line.slice(second + 1);
    if (line.slice(0, first) === '0' && controllers === '') out.v2 = path;
    else for (const c of controllers.split(',')) if (c) out.v1.set(c, path);
  }
  return out;
}

/** A mounted cgroup hierarchy: its mount point and the hierarchy path mounted there ("/" unless a subtree). */
export interface CgroupMount {
  mountPoint: string;
  root: string;
}

export interface CgroupMounts {
  /** v1 hierarchies by controller (a hierarchy of "cpu,cpuacct" is listed under both). */
  v1: Map<string, CgroupMount>;
  v2?: CgroupMount;
}

/** mountinfo escapes space, tab, newline and backslash as octal (\040…). */
function unescapeMountinfo(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8)));
}

/**
 * The cgroup mounts of /proc/self/mountinfo (proc(5)): `id parent maj:min root
 * mountpoint options [optional fields…] - fstype source superoptions`. A v1
 * hierarchy's controllers are in its superoptions ("rw,cpu,cpuacct"). The first
 * mount of a hierarchy wins (later ones are bind mounts of it).
 */
export function parseCgroupMounts(text: string): CgroupMounts {
  const out: CgroupMounts = { v1: new Map() };
  for (const line of text.split('\n')) {
    const f = line.split(' ');
    const dash = f.indexOf('-');
    if (dash < 6) continue;
    const fstype = f[dash + 1];
    const mount = { root: unescapeMountinfo(f[3] as string), mountPoint: unescapeMountinfo(f[4] as string) };
    if (fstype === 'cgroup2') out.v2 ??= mount;
    else if (fstype === 'cgroup') {
      for (const opt of (f[dash + 3] ?? '').split(',')) {
        if (opt === 'rw' || opt === 'ro' || opt === '') continue;
        if (!out.v1.has(opt)) out.v1.set(opt, mount);
      }
    }
  }
  return out;
}

/** A controller's directory of a process's cgroup, and which cgroup version it is. */
export interface CgroupDir {
  version: 1 | 2;
  dir: string;
}

/**
 * The directory holding `controller`'s files for a process in cgroup `cg`: its v1
 * hierarchy when both the mount and the process's path exist, else the v2 tree; the
 * mount's root (a subtree mounted there) is taken off the process's path. Undefined
 * when neither has it.
 */
export function cgroupDir(cg: ProcCgroup, mounts: CgroupMounts, controller: string): CgroupDir | undefined {
  const v1Path = cg.v1.get(controller);
  const v1Mount = mounts.v1.get(controller);
  if (v1Path !== undefined && v1Mount) return { version: 1, dir: under(v1Mount, v1Path) };
  if (cg.v2 !== undefined && mounts.v2) return { version: 2, dir: under(mounts.v2, cg.v2) };
  return undefined;
}

function under(m: CgroupMount, path: string): string {
  const rel = m.root !== '/' && (path === m.root || path.startsWith(`${m.root}/`)) ? path.slice(m.root.length) : path;
  const dir = join(m.mountPoint, rel);
  return dir.length > 1 ? dir.replace(/\/+$/, '') : dir;
}

/** `key value` lines (memory.stat, cpu.stat) as a map. */
export function parseKeyedCounters(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const [k, v] = line.trim().split(/\s+/);
    if (k && v !== undefined && Number.isFinite(Number(v))) out.set(k, Number(v));
  }
  return out;
}

/** What a container's cgroup says about it. */
export interface CgroupUsage {
  /** CPU time, ns. */
  cpuNs: number;
  /** Bytes charged, minus inactive page cache (docker's "usage"); the raw charge minus cache that the kernel can drop first. */
  memoryBytes: number;
  /** The memory limit, bytes; undefined for none ("max", or v1's page-rounded LLONG_MAX). */
  memoryLimit: number | undefined;
  /** Tasks (processes and threads). */
  pids: number;
}

/**
 * v1 reports "no limit" as LLONG_MAX rounded down to a page (9223372036854771712);
 * anything at or above 2^62 is that, in any page size.
 */
const V1_UNLIMITED = 2 ** 62;

function readText(dir: string, file: string): string {
  return readFileSync(join(dir, file), 'utf8');
}

function readNumber(dir: string, file: string): number {
  const text = readText(dir, file).trim();
  const n = Number(text);
  if (!Number.isFinite(n)) throw new Error(`${join(dir, file)}: "${text}" is not a number`);
  return n;
}

/**
 * Read a process's cgroup usage. Throws (ENOENT) when the cgroup is gone, e.g. its
 * container ended meanwhile, and when a controller has no hierarchy at all.
 */
export function readCgroupUsage(cg: ProcCgroup, mounts: CgroupMounts): CgroupUsage {
  const need = (controller: string): CgroupDir => {
    const d = cgroupDir(cg, mounts, controller);
    if (!d) throw new Error(`no cgroup hierarchy has the ${controller} controller`);
    return d;
  };
  // v1: cpuacct (its own hierarchy or shared with cpu); v2: the cpu controller's cpu.stat
  const cpu = need('cpuacct');
  const mem = need('memory');
  const pids = need('pids');

  const cpuNs = cpu.version === 1 ? readNumber(cpu.dir, 'cpuacct.usage') : (parseKeyedCounters(readText(cpu.dir, 'cpu.stat')).get('usage_usec') ?? 0) * 1000;

  let charged: number;
  let inactiveFile: number;
  let limit: number | undefined;
  const memStat = parseKeyedCounters(readText(mem.dir, 'memory.stat'));
  if (mem.version === 1) {
    charged = readNumber(mem.dir, 'memory.usage_in_bytes');
    inactiveFile = memStat.get('total_inactive_file') ?? 0;
    const l = readNumber(mem.dir, 'memory.limit_in_bytes');
    limit = l >= V1_UNLIMITED ? undefined : l;
  } else {
    charged = readNumber(mem.dir, 'memory.current');
    inactiveFile = memStat.get('inactive_file') ?? 0;
    const l = readText(mem.dir, 'memory.max').trim();
    limit = l === 'max' ? undefined : Number(l);
  }
  // docker's cli does the same: the cache the kernel reclaims first is not "used"
  const memoryBytes = inactiveFile < charged ? charged - inactiveFile : charged;
  return { cpuNs, memoryBytes, memoryLimit: limit, pids: readPids(pids) };
}

/**
 * pids.current; without it (a v2 tree whose parent does not enable the pids
 * controller) the tasks listed in the cgroup, which is the same count.
 */
function readPids(d: CgroupDir): number {
  try {
    return readNumber(d.dir, 'pids.current');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    return readText(d.dir, d.version === 1 ? 'tasks' : 'cgroup.threads').split('\n').filter(Boolean).length;
  }
}

/** Pids of the processes in a cgroup (its cgroup.procs; v1: of the pids hierarchy). */
export function readCgroupProcs(cg: ProcCgroup, mounts: CgroupMounts): number[] {
  const d = cgroupDir(cg, mounts, 'pids') ?? cgroupDir(cg, mounts, 'memory');
  if (!d) throw new Error('no cgroup hierarchy has the pids or memory controller');
  return readText(d.dir, 'cgroup.procs').split('\n').filter(Boolean).map(Number).filter((n) => Number.isInteger(n) && n > 0);
}
