/**
 * The writable root file system of a container of a loaded image: an overlayfs whose
 * lowerdirs are the image's unpacked layers (read-only, shared with every container
 * of the image) and whose upperdir and workdir are the container's own, in its state
 * directory, removed with it:
 *
 *   containers/<id>/rootfs   the mount point (runc's root.path)
 *   containers/<id>/upper    what the container wrote
 *   containers/<id>/work     overlayfs's scratch directory (same file system as upper)
 *
 * Equivalent to: mount -t overlay overlay -o lowerdir=Ln:…:L1,upperdir=U,workdir=W R
 *
 * The mount lives in the engine's mount namespace (a lab host's own one), which runc's
 * container namespaces inherit.
 */
import { readFileSync } from 'node:fs';

/** The kernel takes one page of mount options. */
const MAX_OPTIONS = 4095;

export interface RootfsMounter {
  /** Mount the overlay at `target` unless something is mounted there already. Throws with the kernel's reason. */
  ensure(layerDirs: readonly string[], upper: string, work: string, target: string): void;
  /** Unmount `target`; not mounted is success. Throws when it stays mounted. */
  release(target: string): void;
}

/** overlayfs options for layers bottom first (overlayfs lists the top lowerdir first); or why they cannot be written. */
export function overlayOptions(layerDirs: readonly string[], upper: string, work: string): string {
  const all = [...layerDirs, upper, work];
  const bad = all.find((d) => /[,:\\]/.test(d));
  if (bad !== undefined) throw new Error(`the path ${bad} holds a "," ":" or "\\", which overlayfs options cannot carry`);
  const opts = `lowerdir=${[...layerDirs].reverse().join(':')},upperdir=${upper},workdir=${work}`;
  if (opts.length > MAX_OPTIONS) throw new Error(`the image has too many layers for one overlayfs mount (${layerDirs.length}; options of ${opts.length} bytes)`);
  return opts;
}

/** Whether `target` is a mount point in this process's mount namespace (/proc/self/mountinfo). */
export function isMountPoint(target: string, mountinfo = readFileSync('/proc/self/mountinfo', 'utf8')): boolean {
  const escaped = target.replace(/[\\ \t\n]/g, (c) => `\\${c.charCodeAt(0).toString(8).padStart(3, '0')}`);
  return mountinfo.split('\n').some((l) => l.split(' ')[4] === escaped);
}

/** The real thing, over the native addon's mount(2) and umount2(2). */
export function kernelMounter(sys: { mount(s: string | null, t: string, f: string | null, flags: number, d: string | null): void; umount2(t: string, flags: number): void }, mntDetach: number): RootfsMounter {
  return {
    ensure(layerDirs, upper, work, target) {
      if (isMountPoint(target)) return;
      sys.mount('overlay', target, 'overlay', 0, overlayOptions(layerDirs, upper, work));
    },
    release(target) {
      if (!isMountPoint(target)) return;
      try {
        sys.umount2(target, 0);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EBUSY') throw err;
        // something still holds it (a process that outlived runc): detach it from the tree now
        sys.umount2(target, mntDetach);
      }
      if (isMountPoint(target)) throw new Error(`${target} is still mounted`);
    },
  };
}
