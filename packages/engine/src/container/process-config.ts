/**
 * The container's process: an image's defaults with the `run` request's overrides,
 * merged in one place (as docker merges the image config with `run`'s flags):
 *
 *   args   entrypoint ++ cmd, where entrypoint = --entrypoint ?? image Entrypoint and
 *          cmd = the request's command ?? (none when --entrypoint was given, else image Cmd)
 *   env    image Env, then the request's -e (a key given twice: the request wins)
 *   cwd    -w ?? image WorkingDir ?? /
 *   user   -u ?? image User ?? root (resolved against the container's own /etc/passwd,
 *          /etc/group: for a loaded image, call this once its overlayfs is mounted)
 *
 * Used alike for a loaded image (its config), the built-in busybox and --rootfs
 * (BUSYBOX_DEFAULTS). The one place run-request overrides are read.
 */
import { InvalidArgument } from '@vxnet/common';
import type { ImageRuntimeConfig, RunRequest } from '@vxnet/common/api';
import { readInRoot } from './scoped-path.js';

/** What an image says about its process (the OCI image config's Entrypoint, Cmd, Env, WorkingDir, User). */
export type ImageDefaults = Pick<ImageRuntimeConfig, 'entrypoint' | 'cmd' | 'env' | 'workingDir' | 'user'>;

export const BUSYBOX_DEFAULTS: ImageDefaults = Object.freeze({ entrypoint: [], cmd: ['sh'], env: [], workingDir: '/', user: '' });

/** `sh` that stays up until SIGTERM (as pid 1 it needs a handler to die from it). */
export const KEEP_ALIVE = ['sh', '-c', "trap 'exit 143' TERM INT; while :; do sleep 1 & wait $!; done"];

export interface ProcessUser {
  uid: number;
  gid: number;
  additionalGids?: number[];
  /** As asked (`-u`), for inspect; empty: the image's default (root). */
  spec: string;
}

export interface ProcessConfig {
  args: string[];
  env: string[];
  cwd: string;
  user: ProcessUser;
}

/**
 * Merge `image` with `req` for a container whose root is `rootfs`. `keepAlive`: a
 * detached run without a terminal that would run the image's default `sh` runs
 * KEEP_ALIVE instead (the busybox demo's `run -d busybox`). Throws InvalidArgument
 * (prefixed by `what`) for an empty command, a relative -w, or a -u that the image
 * does not know.
 */
export function processConfig(image: ImageDefaults, req: RunRequest, rootfs: string, what: string, keepAlive: boolean): ProcessConfig {
  const entrypoint = req.entrypoint ?? image.entrypoint;
  const cmd = req.cmd && req.cmd.length > 0 ? req.cmd : req.entrypoint !== undefined ? [] : image.cmd;
  let args = [...entrypoint, ...cmd];
  const defaulted = req.entrypoint === undefined && !(req.cmd && req.cmd.length > 0);
  if (keepAlive && defaulted && req.detach && !req.tty && args.length === 1 && args[0] === 'sh') args = KEEP_ALIVE;
  if (args.length === 0) throw new InvalidArgument(`${what}: no command: the image has none, give one (or --entrypoint)`);
  const cwd = req.workdir ?? (image.workingDir || '/');
  if (!cwd.startsWith('/')) throw new InvalidArgument(`${what}: the working directory (-w) "${cwd}" is not an absolute path`);
  const user = req.user !== undefined ? resolveUser(req.user, rootfs, what) : resolveUser(image.user, rootfs, what, "user (the image's User)");
  return { args, env: mergeEnv(image.env, req.env ?? []), cwd, user };
}

/** `base` with `over` applied by key, order kept (new keys appended), as docker does. */
export function mergeEnv(base: readonly string[], over: readonly string[]): string[] {
  const key = (e: string) => e.slice(0, Math.max(0, e.indexOf('=')));
  const out = [...base];
  for (const e of over) {
    const i = out.findIndex((b) => key(b) === key(e));
    if (i >= 0) out[i] = e;
    else out.push(e);
  }
  return out;
}

/**
 * `-u` as docker takes it: `uid`, `uid:gid`, `name`, `name:group` (names from the
 * image's /etc/passwd and /etc/group; a user's own group when none is given).
 */
export function resolveUser(spec: string, rootfs: string, what: string, from = 'user (-u)'): ProcessUser {
  if (spec === '') return { uid: 0, gid: 0, spec };
  const [u, g, extra] = spec.split(':');
  if (extra !== undefined || u === '' || u === undefined || g === '') throw new InvalidArgument(`${what}: invalid ${from} "${spec}": expected USER[:GROUP] or UID[:GID]`);
  const passwd = () => table(readInRoot(rootfs, '/etc/passwd'));
  let uid: number;
  let gid: number | undefined;
  if (/^[0-9]+$/.test(u)) {
    uid = Number(u);
    const own = passwd().find((f) => f[2] === u)?.[3]; // a known uid's own group
    gid = own !== undefined ? Number(own) : undefined;
  } else {
    const entry = passwd().find((f) => f[0] === u);
    if (!entry) throw new InvalidArgument(`${what}: invalid ${from} "${spec}": no user "${u}" in the image's /etc/passwd`);
    uid = Number(entry[2]);
    gid = Number(entry[3]);
  }
  if (g !== undefined) {
    if (/^[0-9]+$/.test(g)) gid = Number(g);
    else {
      const entry = table(readInRoot(rootfs, '/etc/group')).find((f) => f[0] === g);
      if (!entry) throw new InvalidArgument(`${what}: invalid ${from} "${spec}": no group "${g}" in the image's /etc/group`);
      gid = Number(entry[2]);
    }
  }
  if (!Number.isSafeInteger(uid) || uid > 0xfffffffe || (gid !== undefined && (!Number.isSafeInteger(gid) || gid > 0xfffffffe))) {
    throw new InvalidArgument(`${what}: invalid ${from} "${spec}": ids go up to 4294967294`);
  }
  return { uid, gid: gid ?? 0, spec };
}

/** Colon-separated lines (passwd, group); a missing file is an empty table. */
function table(text: string | undefined): string[][] {
  return (text ?? '').split('\n').filter((l) => l && !l.startsWith('#')).map((l) => l.split(':'));
}
