/**
 * runc's `--console-socket`: runc allocates the container process's pseudo-terminal
 * and sends us its master end over a unix socket (SCM_RIGHTS), as containerd's shim
 * receives it. Node cannot receive descriptors, so the accept and the recvmsg run in
 * the native addon, on a worker thread (never on the event loop) and with a timeout.
 *
 * runc accepts a console socket only when it detaches (`runc exec -d`, `runc run -d`):
 * the process then outlives runc and is reparented to the nearest subreaper, which
 * must be the engine to learn its exit code (see main.ts).
 */
import { connect } from 'node:net';
import { closeSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { native } from '@vxnet/netns';

export class ConsoleSocket {
  private closed = false;

  private constructor(
    /** What to pass to `runc --console-socket`. */
    readonly path: string,
    private readonly dir: string,
    private readonly fd: number,
  ) {}

  /**
   * Listen on a fresh socket in a private (0700) directory of the temporary
   * directory: unix socket paths are limited to 107 bytes, too short for paths under a
   * container's state directory.
   */
  static open(): ConsoleSocket {
    const dir = mkdtempSync(join(tmpdir(), 'vxnet-console-'));
    const path = join(dir, 'console.sock');
    try {
      return new ConsoleSocket(path, dir, native().listenUnix(path));
    } catch (err) {
      rmSync(dir, { recursive: true, force: true });
      throw err;
    }
  }

  /**
   * The pty master that runc sends (the caller's to close). Rejects after `timeoutMs`
   * (code ETIMEDOUT), or when `abandon()` was called first (code ENODATA).
   */
  receive(timeoutMs: number): Promise<number> {
    return native().recvFd(this.fd, timeoutMs);
  }

  /** Unblock a pending receive() (runc failed before it connected): connect and send nothing. */
  abandon(): void {
    if (this.closed) return;
    connect(this.path).on('error', () => undefined).end();
  }

  /** Close the socket and remove its directory. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    closeSync(this.fd);
    rmSync(this.dir, { recursive: true, force: true });
  }
}
