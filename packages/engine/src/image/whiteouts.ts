/**
 * Whiteouts in overlayfs form, written into an unpacked layer's directory so the
 * layer can be a lowerdir as it is (what containerd's overlay snapshotter does):
 *
 *   `.wh.NAME` in the tar   ->  NAME as a character device 0/0: overlayfs hides NAME
 *                               of the layers below (Documentation/filesystems/overlayfs.rst,
 *                               "whiteouts and opaque directories")
 *   `.wh..wh..opq` in DIR   ->  the xattr trusted.overlay.opaque=y on DIR: the layers
 *                               below contribute nothing to DIR; this layer's entries stay
 *
 * Equivalent to: mknod DIR/NAME c 0 0;  setfattr -n trusted.overlay.opaque -v y DIR
 */
import { lstatSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';

/** The two syscalls (a seam: the unit tests record them; the engine passes the native addon's). */
export interface WhiteoutOps {
  /** Make `path` a 0/0 character device. */
  whiteout(path: string): void;
  /** Set trusted.overlay.opaque=y on directory `dir`. */
  opaque(dir: string): void;
}

/**
 * Apply the whiteouts that tar-unpack.ts collected to the layer unpacked at `root`.
 * A path the layer itself also holds is left alone (the layer's entry wins, as it
 * would applied in order). Missing parent directories are made (0755): a whiteout may
 * be the only entry of its directory. Paths were checked by tar-unpack.ts; parents
 * are checked again here not to be symlinks, so nothing is made outside `root`.
 */
export function applyWhiteouts(root: string, whiteouts: readonly string[], opaque: readonly string[], ops: WhiteoutOps): void {
  for (const rel of whiteouts) {
    const parts = rel.split('/');
    const parent = ensureRealDir(root, parts.slice(0, -1));
    const path = join(parent, parts[parts.length - 1] as string);
    if (exists(path)) continue;
    ops.whiteout(path);
  }
  for (const rel of opaque) {
    const dir = ensureRealDir(root, rel === '' ? [] : rel.split('/'));
    ops.opaque(dir);
  }
}

/** mkdir -p of `parts` under `root`, refusing to go through a symlink. */
function ensureRealDir(root: string, parts: string[]): string {
  let dir = root;
  for (const p of parts) {
    dir = join(dir, p);
    let st;
    try {
      st = lstatSync(dir);
    } catch {
      mkdirSync(dir, { mode: 0o755 });
      continue;
    }
    if (!st.isDirectory()) {
      throw new Error(`a whiteout lies under "${dir}", which is not a directory`);
    }
  }
  return dir;
}

function exists(path: string): boolean {
  try {
    lstatSync(path);
    return true;
  } catch {
    return false;
  }
}
