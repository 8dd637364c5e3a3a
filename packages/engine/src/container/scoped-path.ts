/**
 * Paths inside a container's root, resolved as the container sees them, from the
 * host. A container's symlink must never lead the engine (root, host view) out of
 * the container: an absolute target is taken from the container's root, `..` stops at
 * it, and every component is looked at with lstat, so what is returned has no
 * symlink in it (but the last component when not followed). The kernel would not do
 * this for us: below /proc/PID/root an absolute symlink resolves against the *engine's*
 * root. (docker's FollowSymlinkInScope does the same; openat2's RESOLVE_IN_ROOT is the
 * kernel's way, which Node lacks.)
 *
 * Like docker's, this races with a container that changes its files meanwhile; the
 * last component of what is written is opened with O_NOFOLLOW (archive.ts).
 */
import { constants, closeSync, fstatSync, lstatSync, openSync, readFileSync, readlinkSync } from 'node:fs';
import { join, posix } from 'node:path';

const MAX_LINKS = 40;

/** Thrown for a path that leads out of the root lexically (`../../etc/passwd`), or a symlink loop. */
export class ScopeError extends Error {}

/**
 * Components of container path `path` (relative ones from /), `.` dropped and `..`
 * applied. Throws ScopeError when a `..` would climb above the root: we refuse what a
 * user most likely meant as an escape rather than quietly clamping it.
 */
export function containerPathParts(path: string): string[] {
  const parts: string[] = [];
  for (const c of path.split('/')) {
    if (c === '' || c === '.') continue;
    if (c === '..') {
      if (parts.length === 0) throw new ScopeError(`the path "${path}" leads out of the container's root`);
      parts.pop();
    } else parts.push(c);
  }
  return parts;
}

/**
 * The host path of container path `path` under `root` (a directory: an image's
 * rootfs or /proc/PID/root), symlinks followed inside the root; the last component
 * too unless `followLast` is false. Components that do not exist are kept as named.
 * Throws ScopeError (lexical escape, symlink loop).
 */
export function resolveInRoot(root: string, path: string, followLast = true): string {
  const queue = containerPathParts(path);
  const done: string[] = [];
  let links = 0;
  while (queue.length > 0) {
    const c = queue.shift() as string;
    if (c === '.' || c === '') continue;
    if (c === '..') {
      done.pop(); // a symlink's `..`: stops at the root, as the kernel does at /
      continue;
    }
    if (queue.length === 0 && !followLast) {
      done.push(c);
      break;
    }
    const host = join(root, ...done, c);
    let isLink = false;
    try {
      isLink = lstatSync(host).isSymbolicLink();
    } catch {
      // absent: kept as named
    }
    if (!isLink) {
      done.push(c);
      continue;
    }
    if (++links > MAX_LINKS) throw new ScopeError(`too many symlinks in "${path}"`);
    const target = readlinkSync(host);
    if (target.startsWith('/')) done.length = 0;
    queue.unshift(...target.split('/'));
  }
  return join(root, ...done);
}

/** The container's name for a host path under root (for messages). */
export function inContainer(root: string, host: string): string {
  return posix.join('/', host.slice(root.length));
}

/** A regular file's text inside the root (symlinks resolved in it), or undefined when there is none. */
export function readInRoot(root: string, path: string): string | undefined {
  let fd: number;
  try {
    fd = openSync(resolveInRoot(root, path), constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch {
    return undefined;
  }
  try {
    return fstatSync(fd).isFile() ? readFileSync(fd, 'utf8') : undefined;
  } finally {
    closeSync(fd);
  }
}
