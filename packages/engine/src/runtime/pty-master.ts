/**
 * The master end of a pseudo-terminal that runc sent us (console-socket.ts).
 *
 * Read through a tty.ReadStream (libuv, non-blocking), which owns the master and
 * closes it at the end of the output (EIO: no process holds the terminal any more);
 * written with fs.write on a dup of it that only close() closes, once no write is in
 * flight. Node has no writable stream for a pty master that never blocks the event
 * loop (tty.WriteStream makes the file blocking), and a client that pastes faster than
 * the program reads must not stall the engine, so a full terminal (EAGAIN) is retried
 * a little later.
 */
import { closeSync, write as fsWrite } from 'node:fs';
import { ReadStream } from 'node:tty';
import { setTimeout as sleep } from 'node:timers/promises';
import { native } from '@vxnet/netns';

export class PtyMaster {
  private readonly reader: ReadStream;
  private readonly input: number;
  private writing: Promise<void> = Promise.resolve();
  private closed = false;
  /** Resolves at the end of the output (every process let go of the terminal) or at close(). */
  readonly ended: Promise<void>;

  /** Takes ownership of `fd`; output chunks go to `onOutput` as they come. */
  constructor(fd: number, onOutput: (data: Buffer) => void) {
    native().setNonBlocking(fd);
    this.input = native().dup(fd);
    this.reader = new ReadStream(fd);
    this.reader.on('data', onOutput);
    this.reader.on('error', () => undefined); // EIO: the end of the output
    this.ended = new Promise((resolve) => this.reader.once('close', () => resolve()));
  }

  /** Bytes typed into the terminal, in order. Ignored after close(). */
  write(data: Buffer): void {
    if (!this.closed) this.writing = this.writing.then(() => this.writeAll(data));
  }

  /** The terminal's size in characters; its foreground process group gets SIGWINCH. Equivalent to: stty rows R cols C */
  resize(rows: number, cols: number): void {
    if (!this.closed && rows > 0 && cols > 0) native().setWinsize(this.input, rows, cols);
  }

  pause(): void {
    this.reader.pause();
  }

  resume(): void {
    this.reader.resume();
  }

  /** Stop writing and reading, and close both descriptors. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.writing; // no fs.write may be in flight when its fd closes
    closeSync(this.input);
    this.reader.destroy();
  }

  private async writeAll(data: Buffer): Promise<void> {
    for (let at = 0; at < data.length && !this.closed;) {
      const r = await new Promise<{ n: number; err: NodeJS.ErrnoException | null }>((resolve) =>
        fsWrite(this.input, data, at, data.length - at, null, (err, n) => resolve({ n, err })));
      if (r.err?.code === 'EAGAIN') await sleep(10);
      else if (r.err) return;
      else at += r.n;
    }
  }
}
