/**
 * A container's user (`uid[:gid]` or `name[:group]`, from the image config or `-u`) as
 * the numeric ids runc wants, looked up in the container's own /etc/passwd and
 * /etc/group as docker does. Those files come from the image: they are read only if
 * they and /etc are no symlinks (which would be resolved on the host, not in the
 * container), and at most 1 MiB.
 */
import { closeSync, constants, fstatSync, lstatSync, openSync, readSync } from 'node:fs';
import { join } from 'node:path';

export interface ResolvedUser {
  uid: number;
  gid: number;
}

/** Resolve `spec` against the root file system `rootfs`; returns the ids, or why not (a phrase). */
export function resolveUser(spec: string, rootfs: string): ResolvedUser | string {
  if (spec === '') return { uid: 0, gid: 0 };
  const [u, g] = spec.split(':') as [string, string | undefined];
  let uid: number;
  let gid: number | undefined;
  if (/^\d+$/.test(u)) {
    uid = Number(u);
    const entry = passwd(rootfs).find((p) => p.uid === uid);
    gid = entry?.gid ?? 0;
  } else {
    const entry = passwd(rootfs).find((p) => p.name === u);
    if (!entry) return `is not in the container's /etc/passwd`;
    uid = entry.uid;
    gid = entry.gid;
  }
  if (g !== undefined) {
    if (/^\d+$/.test(g)) gid = Number(g);
    else {
      const grp = readEtc(rootfs, 'group').map((l) => l.split(':')).find((f) => f[0] === g);
      if (!grp || !/^\d+$/.test(grp[2] ?? '')) return `names group "${g}", which is not in the container's /etc/group`;
      gid = Number(grp[2]);
    }
  }
  return { uid, gid: gid ?? 0 };
}

function passwd(rootfs: string): Array<{ name: string; uid: number; gid: number }> {
  return readEtc(rootfs, 'passwd').map((l) => l.split(':')).filter((f) => f.length >= 4 && /^\d+$/.test(f[2] ?? '') && /^\d+$/.test(f[3] ?? ''))
    .map((f) => ({ name: f[0] as string, uid: Number(f[2]), gid: Number(f[3]) }));
}

/** Lines of rootfs/etc/NAME; none when it is absent or not a plain file under a plain /etc. */
function readEtc(rootfs: string, name: string): string[] {
  try {
    if (!lstatSync(join(rootfs, 'etc')).isDirectory()) return [];
    const fd = openSync(join(rootfs, 'etc', name), constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    try {
      const st = fstatSync(fd);
      if (!st.isFile()) return [];
      const size = Math.min(st.size, 1 << 20);
      const buf = Buffer.alloc(size);
      readSync(fd, buf, 0, size, 0);
      return buf.toString('utf8').split('\n').filter((l) => l !== '' && !l.startsWith('#'));
    } finally {
      closeSync(fd);
    }
  } catch {
    return [];
  }
}
