/**
 * Images: read-only root filesystems shared by every container that runs them.
 * Loaded images (`image load`: layers, config) are in image-store.ts; a container of
 * one gets an overlayfs over its layers (container/rootfs-mount.ts). A name resolves to
 * a loaded image first, then to the built-in one.
 *
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
import type { ImageView } from '@vxnet/common/api';
import { S_IFCHR, native } from '@vxnet/netns';
import { ImageBuiltin, ImageNotFound, NoSuchImage, RootfsNotFound } from '../errors.js';
import { LoadedImages, type StoredImage } from './image-store.js';
import type { WhiteoutOps } from './whiteouts.js';

export const BUILTIN_IMAGES = ['busybox'] as const;

export interface ImageStoreOptions {
  /** The store: `busybox/rootfs` and the loaded images (image-store.ts); this engine's alone. */
  dir: string;
  /** Path of a static busybox binary. */
  busybox: string;
  log: Logger;
  /** How whiteouts are written into unpacked layers; default: mknod and lsetxattr of the native addon. */
  whiteouts?: WhiteoutOps;
}

/** What an image reference resolves to. */
export type ResolvedImage =
  | { kind: 'builtin'; rootfs: string }
  | { kind: 'loaded'; image: StoredImage; layerDirs: string[] };

/** Whiteouts in overlayfs form, by the native addon. */
export const KERNEL_WHITEOUTS: WhiteoutOps = {
  whiteout: (path) => native().mknod(path, S_IFCHR, 0, 0),
  opaque: (dir) => native().lsetxattr(dir, 'trusted.overlay.opaque', 'y'),
};

export class ImageStore {
  /** Images loaded from archives (`image load`). */
  readonly loaded: LoadedImages;

  constructor(private readonly o: ImageStoreOptions) {
    this.loaded = new LoadedImages({ dir: o.dir, whiteouts: o.whiteouts ?? KERNEL_WHITEOUTS, log: o.log });
  }

  /**
   * The image `ref` names: a loaded one (name[:tag], id, id prefix), else the built-in
   * busybox. Throws ImageNotFound (listing what there is), ImageAmbiguous.
   */
  resolve(ref: string): ResolvedImage {
    const image = this.loaded.find(ref);
    if (image) return { kind: 'loaded', image, layerDirs: image.layers.map((d) => this.loaded.layerDir(d)) };
    if (ref === 'busybox' || ref === 'busybox:latest') return { kind: 'builtin', rootfs: this.ensureBusybox() };
    const names = [...BUILTIN_IMAGES, ...this.loaded.list().flatMap((i) => i.tags)];
    throw new ImageNotFound(ref, names.join(', '));
  }

  /** Layer directories of loaded image `id` (a container's lowerdirs); throws NoSuchImage when it is gone. */
  layerDirs(id: string): string[] {
    const image = this.loaded.find(id);
    if (!image || image.id !== id) throw new NoSuchImage('use', id);
    return image.layers.map((d) => this.loaded.layerDir(d));
  }

  /** Every image, the built-in one last. */
  list(): ImageView[] {
    return [...this.loaded.list().map((i) => this.loaded.view(i)), this.builtinView()];
  }

  /** One image by reference; throws NoSuchImage. */
  inspect(ref: string): ImageView {
    const image = this.loaded.find(ref);
    if (image) return this.loaded.view(image);
    if (ref === 'busybox' || ref === 'busybox:latest' || ref === 'builtin:busybox') return this.builtinView();
    throw new NoSuchImage('inspect', ref);
  }

  /** Remove a loaded image (see LoadedImages.remove); the built-in one is refused. */
  remove(ref: string, usedBy: (id: string) => string[]): ReturnType<LoadedImages['remove']> {
    if (!this.loaded.find(ref) && (ref === 'busybox' || ref === 'busybox:latest')) return Promise.reject(new ImageBuiltin(ref));
    return this.loaded.remove(ref, usedBy);
  }

  private builtinView(): ImageView {
    return {
      id: 'builtin:busybox', tags: ['busybox:latest'], builtin: true, layers: [], size: 0, architecture: process.arch === 'x64' ? 'amd64' : process.arch,
      os: 'linux', created: null, loadedAt: null,
      config: { entrypoint: [], cmd: ['sh'], env: [], workingDir: '', user: '', exposedPorts: [] },
    };
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
