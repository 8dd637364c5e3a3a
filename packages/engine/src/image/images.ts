/**
 * Images: read-only root filesystems shared by every container that runs them.
 * There is one built-in image, `busybox`, made once from the host's static busybox:
 * the binary plus a symlink per applet at the path `busybox --list-full` gives, the
 * directories a container expects, and empty /etc/{hosts,resolv.conf,hostname} as
 * mount points for the per-container files (the rootfs is read-only, so runc could
 * not create them).
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { isAbsolute, join } from 'node:path';
import type { Logger } from '@vxnet/common';
import { ImageNotFound, RootfsNotFound } from '../errors.js';

export const BUILTIN_IMAGES = ['busybox'] as const;

export interface ImageStoreOptions {
  /** Directory holding `<image>/rootfs`; may be shared by several engines. */
  dir: string;
  /** Path of a static busybox binary. */
  busybox: string;
  log: Logger;
}

export class ImageStore {
  constructor(private readonly o: ImageStoreOptions) {}

  /**
   * Root filesystem of `image` (absolute path). Throws ImageNotFound for unknown
   * images. Builds the busybox image on first use.
   */
  rootfs(image: string): string {
    if (image !== 'busybox') throw new ImageNotFound(image, BUILTIN_IMAGES.join(', '));
    return this.ensureBusybox();
  }

  /** Validate a user-supplied root directory (`--rootfs DIR`); returns it. Throws RootfsNotFound. */
  userRootfs(dir: string): string {
    let ok = false;
    try {
      ok = isAbsolute(dir) && statSync(dir).isDirectory();
    } catch {
      ok = false;
    }
    if (!ok) throw new RootfsNotFound(dir);
    return dir;
  }

  /**
   * Make `<dir>/busybox/rootfs` unless it exists; returns its path. Idempotent and
   * safe against other engines building it at the same time: each builds in a
   * private directory and renames it into place; the loser discards its copy.
   *
   * Equivalent to: mkdir -p R/{bin,sbin,usr/bin,usr/sbin,etc,…}; cp /bin/busybox R/bin; busybox --install -s R
   */
  ensureBusybox(): string {
    const final = join(this.o.dir, 'busybox');
    const rootfs = join(final, 'rootfs');
    try {
      if (statSync(join(rootfs, 'bin', 'busybox')).isFile()) return rootfs;
    } catch {
      // not built yet
    }
    const t0 = Date.now();
    mkdirSync(this.o.dir, { recursive: true });
    const tmp = join(this.o.dir, `.busybox-${process.pid}-${randomBytes(4).toString('hex')}`);
    const root = join(tmp, 'rootfs');
    try {
      for (const d of ['bin', 'sbin', 'usr/bin', 'usr/sbin', 'etc', 'proc', 'sys', 'dev', 'tmp', 'root', 'var', 'run', 'home']) {
        mkdirSync(join(root, d), { recursive: true });
      }
      copyFileSync(this.o.busybox, join(root, 'bin', 'busybox'));
      const applets = execFileSync(this.o.busybox, ['--list-full'], { encoding: 'utf8' }).split('\n').map((s) => s.trim()).filter(Boolean);
      for (const applet of applets) {
        if (applet === 'bin/busybox' || applet.includes('..') || applet.startsWith('/')) continue;
        try {
          symlinkSync('/bin/busybox', join(root, applet));
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'EEXIST' && (err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
        }
      }
      writeFileSync(join(root, 'etc', 'passwd'), 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n');
      writeFileSync(join(root, 'etc', 'group'), 'root:x:0:\nnogroup:x:65534:\n');
      for (const f of ['hosts', 'resolv.conf', 'hostname']) writeFileSync(join(root, 'etc', f), '');
      try {
        renameSync(tmp, final);
        this.o.log.info({ image: 'busybox', applets: applets.length, ms: Date.now() - t0 }, 'image built');
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw err;
      }
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
    return rootfs;
  }
}
