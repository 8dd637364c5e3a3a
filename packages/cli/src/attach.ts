/**
 * The CLI's end of an exec frame stream (the format: ExecRequest in
 * @vxnet/common/api engine.ts): the engine's stdout and stderr frames to ours, our
 * stdin to the process (when asked), our terminal's size and signals to it; resolves
 * with the exit frame's code.
 *
 * With a TTY and our stdin a terminal, the terminal goes raw, so Ctrl-C, Ctrl-D and
 * Ctrl-Z are bytes for the container's terminal to interpret, as over ssh; it is
 * restored however the command ends. Otherwise SIGINT, SIGTERM and SIGHUP are sent
 * as signal frames (the process group gets them); a second Ctrl-C sends KILL, a third
 * leaves without waiting for the engine.
 *
 * Attached to a container's terminal, typing the detach keys (default ctrl-p ctrl-q)
 * makes the engine answer with a `detached` frame: we leave with 0, the container goes on.
 */
import type { Duplex } from 'node:stream';
import { Frame, FrameDecoder, encodeData, encodeFrame, encodeResize, type ExecExit } from '@vxnet/common/api';
import { StreamBroken } from './errors.js';

export interface AttachOptions {
  /** For messages: the engine. */
  url: string;
  /** Forward our stdin (stdin frames, then stdin-eof). */
  stdin: boolean;
  /** The process has a terminal: raw mode and window size when ours is one. */
  tty: boolean;
}

const FORWARDED: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

export function attach(socket: Duplex, head: Buffer, o: AttachOptions): Promise<number> {
  const stdin = process.stdin;
  const raw = o.tty && o.stdin && stdin.isTTY === true;
  const send = (frame: Buffer) => {
    if (socket.writable) socket.write(frame);
  };
  const cleanups: Array<() => void> = [];

  if (raw) {
    stdin.setRawMode(true);
    const restore = () => stdin.setRawMode(false);
    process.once('exit', restore); // also when something throws past us
    cleanups.push(() => {
      restore();
      process.off('exit', restore);
    });
  }
  if (o.tty && process.stdout.isTTY) {
    const resize = () => send(encodeResize(process.stdout.rows, process.stdout.columns));
    process.stdout.on('resize', resize);
    cleanups.push(() => process.stdout.off('resize', resize));
  }
  if (!raw) {
    let interrupts = 0;
    for (const sig of FORWARDED) {
      const forward = () => {
        if (sig !== 'SIGINT') return send(encodeFrame(Frame.signal, sig.slice(3)));
        interrupts++;
        if (interrupts > 2) socket.destroy(); // the engine does not answer: leave (it kills what is left)
        else send(encodeFrame(Frame.signal, interrupts > 1 ? 'KILL' : 'INT'));
      };
      process.on(sig, forward);
      cleanups.push(() => process.off(sig, forward));
    }
  }
  if (o.stdin) {
    const onData = (d: Buffer) => {
      for (const f of encodeData(Frame.stdin, d)) send(f);
    };
    const onEnd = () => send(encodeFrame(Frame.stdinEof));
    stdin.on('data', onData);
    stdin.on('end', onEnd);
    cleanups.push(() => {
      stdin.off('data', onData);
      stdin.off('end', onEnd);
      stdin.pause();
      stdin.unref?.();
    });
  }

  return new Promise<number>((resolve, reject) => {
    const decoder = new FrameDecoder();
    let exit: number | undefined;
    const onChunk = (chunk: Buffer) => {
      let frames;
      try {
        frames = decoder.push(chunk);
      } catch (err) {
        socket.destroy(err as Error);
        return;
      }
      for (const f of frames) {
        if (f.type === Frame.stdout || f.type === Frame.stderr) {
          const to = f.type === Frame.stdout ? process.stdout : process.stderr;
          if (!to.write(f.payload)) {
            socket.pause();
            to.once('drain', () => socket.resume());
          }
        } else if (f.type === Frame.exit) {
          exit = (JSON.parse(f.payload.toString('utf8')) as ExecExit).exitCode;
        } else if (f.type === Frame.detached) {
          exit = 0;
          if (raw) process.stderr.write('\r\n');
        }
      }
      // The exit frame is the engine's last word (it ends the connection after it):
      // close now rather than wait for its end of the connection to arrive, one more
      // wake-up of this process that a loaded machine makes cost milliseconds.
      if (exit !== undefined) socket.destroy();
    };
    let failure: Error | undefined;
    socket.on('data', onChunk);
    socket.on('error', (err) => (failure = err));
    socket.on('close', () => {
      for (const c of cleanups.reverse()) c();
      if (exit !== undefined) resolve(exit);
      else reject(new StreamBroken(o.url, failure?.message ?? 'it closed the connection'));
    });
    if (head.length > 0) onChunk(head);
  });
}
