/**
 * Named network namespaces, laid out as iproute2 does (a bind mount of the
 * namespace file under /run/netns/NAME), so `ip netns exec NAME …` and
 * `ip -n NAME …` work on everything the agent creates.
 *
 * Node runs JavaScript on one thread and has no setns, so entering a namespace
 * is done with the native addon, synchronously, around a synchronous callback
 * (`inNetns`): a netlink socket created inside stays bound to that namespace
 * (shared/notes/kernel.md). Anything that creates its fd on a later tick
 * (dgram.bind, net.listen) must run in a Worker that entered the namespace.
 */
import { closeSync, mkdirSync, openSync, statSync, unlinkSync } from 'node:fs';

import { CLONE_NEWNET, MNT_DETACH, MS_BIND, MS_REC, MS_SHARED, native } from './native.js';

import { NETNS_RUN_DIR, netnsPath } from '@vxnet/common';

export { NETNS_RUN_DIR, listNetns, netnsPath } from '@vxnet/common';

/** The calling thread's own network namespace file. */
export const THREAD_NETNS = '/proc/thread-self/ns/net';

function errnoCode(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code;
}


/** A name under /run/netns, or an absolute path to a namespace file (e.g. /proc/PID/ns/net). */
function resolveNetns(nameOrPath: string): string {
  return nameOrPath.startsWith('/') ? nameOrPath : netnsPath(nameOrPath);
}

let nsfsDev: number | undefined;

/**
 * True when `path` is a network namespace file (a mounted nsfs inode, or a
 * /proc/PID/ns/net link), false when it is absent or a plain file (e.g. left by a
 * crash between creating the file and mounting the namespace on it). Other stat
 * errors (EACCES…) are thrown: "cannot tell" is not "absent".
 *
 * Equivalent to: stat -f -c %T PATH   (prints nsfs)
 */
export function isNetnsFile(path: string): boolean {
  nsfsDev ??= statSync(THREAD_NETNS).dev;
  try {
    return statSync(path).dev === nsfsDev;
  } catch (err) {
    const code = errnoCode(err);
    if (code === 'ENOENT' || code === 'ENOTDIR') return false;
    throw err;
  }
}

let runDirShared = false;

/**
 * Makes /run/netns exist and be a shared mount point, as iproute2 does before its
 * first `ip netns add`: bind mounts made there then propagate to every mount
 * namespace that shares it, so other processes see (and can unmount) them.
 */
function ensureRunDir(): void {
  if (runDirShared) return;
  mkdirSync(NETNS_RUN_DIR, { recursive: true, mode: 0o755 });
  const { mount } = native();
  try {
    mount('none', NETNS_RUN_DIR, null, MS_SHARED | MS_REC, null);
  } catch (err) {
    // EINVAL: not a mount point yet. Make it one (bind onto itself), then share it.
    if (errnoCode(err) !== 'EINVAL') throw err;
    mount(NETNS_RUN_DIR, NETNS_RUN_DIR, 'none', MS_BIND | MS_REC, null);
    mount('none', NETNS_RUN_DIR, null, MS_SHARED | MS_REC, null);
  }
  runDirShared = true;
}

/**
 * Creates the named network namespace NAME unless it exists; returns its path.
 * Idempotent. A leftover plain file at the path (e.g. from a crash between the
 * file's creation and the mount) is reused. The calling thread never changes
 * namespace. Throws the syscall's Error (with `code`) on failure.
 *
 * Equivalent to: ip netns add NAME
 */
export function ensureNetns(name: string): string {
  const path = netnsPath(name);
  ensureRunDir();
  if (isNetnsFile(path)) return path;
  let created = false;
  try {
    closeSync(openSync(path, 'wx', 0o444));
    created = true;
  } catch (err) {
    if (errnoCode(err) !== 'EEXIST') throw err;
  }
  try {
    native().createNetns(path);
  } catch (err) {
    if (created) unlinkSync(path);
    throw err;
  }
  return path;
}

/**
 * Removes the named namespace NAME: lazily unmounts it and removes the file. The
 * kernel frees the namespace (and the virtual devices in it) once nothing else
 * holds it: a process inside, an open fd, a netlink socket bound there.
 * Idempotent: an absent namespace is success.
 *
 * Equivalent to: ip netns delete NAME
 */
export function deleteNetns(name: string): void {
  const path = netnsPath(name);
  try {
    native().umount2(path, MNT_DETACH);
  } catch (err) {
    // EINVAL: the path is not a mount point (a leftover plain file); ENOENT: gone.
    const code = errnoCode(err);
    if (code !== 'EINVAL' && code !== 'ENOENT') throw err;
  }
  try {
    unlinkSync(path);
  } catch (err) {
    if (errnoCode(err) !== 'ENOENT') throw err;
  }
}


/**
 * Runs `fn` with the calling thread inside the network namespace `target` (a name
 * under /run/netns or an absolute path to a namespace file) and returns its
 * result; the thread is back in its original namespace when this returns or
 * throws. `fn` must be synchronous: only what it does before returning happens
 * inside (a socket it creates stays bound to `target`). Returning a promise is
 * a programming error and throws TypeError. Throws the syscall's Error when
 * `target` cannot be opened or entered (e.g. `code` 'ENOENT').
 *
 * Equivalent to: ip netns exec NAME … (for the duration of one synchronous call)
 */
export function inNetns<T>(target: string, fn: () => T): T {
  const { setns } = native();
  const targetFd = openSync(resolveNetns(target), 'r');
  let originalFd: number;
  try {
    originalFd = openSync(THREAD_NETNS, 'r');
  } catch (err) {
    closeSync(targetFd);
    throw err;
  }
  try {
    setns(targetFd, CLONE_NEWNET);
    let result: T;
    try {
      result = fn();
    } finally {
      try {
        setns(originalFd, CLONE_NEWNET);
      } catch (err) {
        // Continuing would program the wrong namespace from now on.
        process.emitWarning(`could not return to the original network namespace: ${String(err)}`);
        process.abort();
      }
    }
    if (result !== null && typeof (result as { then?: unknown } | undefined)?.then === 'function') {
      throw new TypeError('inNetns: fn must be synchronous (it returned a promise, whose later steps run outside the namespace)');
    }
    return result;
  } finally {
    closeSync(targetFd);
    closeSync(originalFd);
  }
}

/**
 * Opens the namespace file of `target` (a name under /run/netns or a path) for
 * passing as IFLA_NET_NS_FD; the caller closes the fd.
 *
 * Equivalent to: the fd behind `ip link set DEV netns NAME`
 */
export function openNetns(target: string): number {
  return openSync(resolveNetns(target), 'r');
}

/**
 * Identity of the namespace at `target` (device:inode of its nsfs file), to tell
 * whether a namespace was replaced under the same name; undefined when absent.
 *
 * Equivalent to: readlink /proc/PID/ns/net (for a named namespace, stat -L)
 */
export function netnsId(target: string): string | undefined {
  try {
    const st = statSync(resolveNetns(target));
    return `${st.dev}:${st.ino}`;
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return undefined;
    throw err;
  }
}
