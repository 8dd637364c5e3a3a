/**
 * cgroups of the lab, as seen from the root namespace: the per-host trees that
 * `lab down` empties and removes (a host's cgroup root with `--podman`, podman.ts; a
 * dockerd's --cgroup-parent, docker.ts). Works on cgroup v1, v2 and the hybrid layout:
 * every mounted hierarchy is visited.
 */
import { readFileSync, readdirSync, rmdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/** Mount points of every cgroup hierarchy (v1 controllers and v2), from /proc/self/mountinfo. */
export function cgroupMounts(): string[] {
  let mountinfo = '';
  try {
    mountinfo = readFileSync('/proc/self/mountinfo', 'utf8');
  } catch {
    return [];
  }
  const mounts: string[] = [];
  for (const line of mountinfo.split('\n')) {
    const [left, right] = line.split(' - ');
    const fstype = right?.split(' ')[0];
    if (fstype !== 'cgroup' && fstype !== 'cgroup2') continue;
    const mountPoint = left?.split(' ')[4];
    if (mountPoint) mounts.push(mountPoint);
  }
  return mounts;
}

/** The directories of cgroup `parent` in every mounted hierarchy (v1 controllers and v2). */
export function cgroupDirs(parent: string): string[] {
  return cgroupMounts().map((m) => join(m, parent)).filter(isDir);
}

function isDir(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/** Every pid in cgroup `parent` and below, in any hierarchy. */
export function cgroupPids(parent: string): number[] {
  const pids = new Set<number>();
  const walk = (dir: string) => {
    try {
      for (const p of readFileSync(join(dir, 'cgroup.procs'), 'utf8').split('\n')) if (/^[0-9]+$/.test(p)) pids.add(Number(p));
      for (const e of readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) walk(join(dir, e.name));
    } catch {
      // removed meanwhile
    }
  };
  for (const dir of cgroupDirs(parent)) walk(dir);
  return [...pids];
}

/**
 * SIGKILL every process under cgroup `parent`: the containers of one lab host (the
 * parent is unique to that host of that lab). Returns the pids signalled.
 */
export function killCgroup(parent: string): number[] {
  const pids = cgroupPids(parent).filter((p) => p !== process.pid);
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // exited meanwhile
    }
  }
  return pids;
}

/**
 * Remove cgroup `parent` and everything below it in every hierarchy, once its
 * processes are gone (kill them first: killCgroup). Returns the directories that could
 * not be removed. Equivalent to: find /sys/fs/cgroup/X/PARENT -depth -type d -exec rmdir {} \;
 */
export async function removeCgroup(parent: string, timeoutMs = 5000): Promise<string[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    killCgroup(parent);
    const left: string[] = [];
    const rm = (dir: string) => {
      try {
        for (const e of readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) rm(join(dir, e.name));
        rmdirSync(dir);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') left.push(dir);
      }
    };
    for (const dir of cgroupDirs(parent)) rm(dir);
    if (left.length === 0 || Date.now() > deadline) return left;
    await sleep(50); // a killed process leaves its cgroup a moment after the signal
  }
}
