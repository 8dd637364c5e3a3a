/**
 * The native addon (packages/netns/native): the namespace and terminal syscalls Node
 * lacks. Loaded lazily so that code which never enters a namespace (and tests that
 * skip without root) works when the addon has not been built.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

/** Linux constants from <sched.h> and <sys/mount.h>. */
export const CLONE_NEWNET = 0x40000000;
export const MS_BIND = 0x1000;
export const MS_REC = 0x4000;
export const MS_SHARED = 0x100000;
export const MNT_DETACH = 0x2;
/** <sys/stat.h>: a character device (mknod's mode). */
export const S_IFCHR = 0o020000;

/**
 * Errors thrown by these functions are `Error`s with `code` set to the errno name
 * (`'ENOENT'`), `errno` to its number, and a message "syscall: ENAME (strerror)".
 */
export interface NativeNs {
  /** setns(2) for the calling thread. */
  setns(fd: number, nstype: number): void;
  /** unshare(2) for the calling thread. */
  unshare(flags: number): void;
  /** mount(2); null for unused arguments. */
  mount(source: string | null, target: string, fstype: string | null, flags: number, data: string | null): void;
  /** umount2(2). */
  umount2(target: string, flags: number): void;
  /**
   * Creates a network namespace on a throwaway thread and bind-mounts it onto
   * `path` (an existing empty file). The calling thread's namespace never changes.
   */
  createNetns(path: string): void;
  /**
   * A listening unix stream socket bound at `path` (which must not exist; at most 107
   * bytes), close-on-exec. The caller closes the fd and unlinks the path.
   */
  listenUnix(path: string): number;
  /**
   * Accepts one connection on `listenFd` and receives one descriptor sent with
   * SCM_RIGHTS (as runc does on its --console-socket). Waits on a worker thread, never
   * on the event loop; rejects with code ETIMEDOUT after `timeoutMs`, ENODATA when the
   * peer sent no descriptor. The received fd is close-on-exec and the caller's to close.
   */
  recvFd(listenFd: number, timeoutMs: number): Promise<number>;
  /** ioctl(TIOCSWINSZ): the terminal's size in characters; its foreground process group gets SIGWINCH. */
  setWinsize(fd: number, rows: number, cols: number): void;
  /** fcntl(F_SETFL, O_NONBLOCK), on the open file (every fd for it). */
  setNonBlocking(fd: number): void;
  /** dup(2), close-on-exec: a second fd for the same open file, closed independently. */
  dup(fd: number): number;
  /** prctl(PR_SET_CHILD_SUBREAPER, 1): orphaned descendants of this process become its children. */
  setChildSubreaper(): void;
  /**
   * waitpid(pid, WNOHANG): the exit code of child `pid` (128+N when killed by signal
   * N) once it has exited, reaping it; null while it runs. Throws ECHILD when `pid` is
   * not a child of this process.
   */
  reap(pid: number): number | null;
  /**
   * A UDP socket with SO_REUSEPORT bound to `address`:`port` (IPv4) in the calling
   * thread's network namespace: the fd, non-blocking and close-on-exec, for
   * `dgram.Socket#bind({ fd })`. Several such sockets on one address and port (any
   * thread or process of the same user) form a group that shares the datagrams; with
   * `spread` > 1 each datagram goes to a random one of the group's first `spread`
   * sockets (in bind order) rather than by the sender's address and port. Throws
   * EADDRINUSE when a socket without SO_REUSEPORT holds the address, EADDRNOTAVAIL when
   * the address is not on an interface of the namespace.
   */
  bindUdpReusePort(address: string, port: number, spread: number): number;
  /** mknod(2) of `path` with `mode` (type and permission bits) and device major:minor; EEXIST when it exists. */
  mknod(path: string, mode: number, major: number, minor: number): void;
  /** lsetxattr(2): set extended attribute `name` of `path` (a symlink itself, never its target) to `value`. */
  lsetxattr(path: string, name: string, value: string): void;
}

/** Built by `npm run build:native -w @vxnet/netns` (and the package's install script). */
export const NATIVE_ADDON_PATH = fileURLToPath(new URL('../../native/build/Release/vxnet_native.node', import.meta.url));

let loaded: NativeNs | undefined;

/** The addon; throws an Error saying how to build it when it is missing. */
export function native(): NativeNs {
  if (loaded) return loaded;
  if (!existsSync(NATIVE_ADDON_PATH)) {
    throw new Error(`the vxnet native addon is not built (${NATIVE_ADDON_PATH} is missing): run \`npm run build:native -w @vxnet/netns\``);
  }
  loaded = createRequire(import.meta.url)(NATIVE_ADDON_PATH) as NativeNs;
  return loaded;
}

/** Why namespaces cannot be used in this process (not root, addon missing), or undefined if they can. */
export function namespaceSupportMissing(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root (network namespaces)';
  if (!existsSync(NATIVE_ADDON_PATH)) return `native addon not built: ${NATIVE_ADDON_PATH}`;
  return undefined;
}
