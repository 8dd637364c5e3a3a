/**
 * The terminal of a container run with a TTY (`run -t`): runc starts it detached and
 * sends us the pty master (console-socket.ts); the engine holds the master for the
 * container's whole life, copies its output to the container's log (so `logs` works)
 * and to the clients attached to it, and reaps the container's init (the engine is a
 * subreaper, main.ts) for its exit code, which it writes where the shim of a
 * container without a TTY would (the `exit` file).
 *
 * Only this engine process holds the master: if the engine stops, the terminal is
 * hung up, which ends the container's shell (SIGHUP); a program that survives that
 * keeps running without a terminal, nothing can attach to it any more, and its exit
 * code is lost (it is no longer our child).
 */
import { closeSync, openSync, writeFileSync, writeSync } from 'node:fs';
import type { Duplex } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '@vxnet/common';
import { DEFAULT_DETACH_KEYS, DetachMatcher, Frame, FrameDecoder, decodeResize, encodeData, encodeFrame, parseDetachKeys, type ExecExit } from '@vxnet/common/api';
import { ConsoleSocket } from '../runtime/console-socket.js';
import { PtyMaster } from '../runtime/pty-master.js';
import { readPid, type RunFiles } from '../runtime/runc.js';
import type { ContainerRuntime } from '../runtime/runtime.js';
import { reapLoop } from './reap.js';
import { CONSOLE_TIMEOUT_MS } from './tty-process.js';

/** What a client attaching gets first: the end of the output so far (the shell's prompt, for `run -it`). */
const REPLAY_BYTES = 64 << 10;
const DRAIN_MS = 500;

export class ContainerConsole {
  /** True until the container's init has been reaped and its exit code written. */
  running = true;
  /** Resolves with the init's exit code (128+N after signal N). */
  readonly exited: Promise<number>;
  private readonly master: PtyMaster;
  private readonly clients = new Set<Duplex>();
  private replay: Buffer = Buffer.alloc(0);
  private code: number | undefined;

  /**
   * Start container `id` from its bundle on a terminal; resolves once it runs, with
   * its init's pid. Throws RuncFailed (nothing left running) when it cannot start.
   */
  static async start(runc: ContainerRuntime, id: string, files: RunFiles, log: Logger): Promise<{ console: ContainerConsole; pid: number }> {
    const socket = ConsoleSocket.open();
    let fd: number;
    try {
      const received = socket.receive(CONSOLE_TIMEOUT_MS);
      try {
        await runc.runDetached(id, files, socket.path);
      } catch (err) {
        socket.abandon();
        await received.then(closeSync, () => undefined);
        throw err;
      }
      fd = await received;
    } finally {
      socket.close();
    }
    const pid = readPid(files.pidFile) as number; // runc wrote it before it exited 0
    return { console: new ContainerConsole(fd, pid, runc, id, files, log), pid };
  }

  private constructor(fd: number, private readonly pid: number, runc: ContainerRuntime, id: string, files: RunFiles, log: Logger) {
    const logFd = openSync(files.logFile, 'a');
    const master = new PtyMaster(fd, (d) => {
      writeSync(logFd, d);
      this.replay = Buffer.concat([this.replay, d]).subarray(-REPLAY_BYTES);
      for (const c of this.clients) for (const f of encodeData(Frame.stdout, d)) c.write(f);
    });
    this.master = master;
    this.exited = (async () => {
      const code = await reapLoop(pid, log);
      writeFileSync(files.exitFile, `${code}\n`);
      this.code = code;
      this.running = false;
      await Promise.race([master.ended, sleep(DRAIN_MS)]);
      await master.close();
      closeSync(logFd);
      const exit: ExecExit = { exitCode: code };
      for (const c of this.clients) c.end(encodeFrame(Frame.exit, JSON.stringify(exit)));
      // detached, runc left its state behind
      await runc.delete(id).catch((err: unknown) => log.warn({ err }, 'could not delete the runc state of an exited container'));
      return code;
    })();
  }

  /** Set the terminal's size in characters (the container gets SIGWINCH). */
  resize(rows: number, cols: number): void {
    this.master.resize(rows, cols);
  }

  /**
   * Attach a client (the exec frame stream, without a process of its own): the recent
   * output, then output as it comes; with `stdin`, its input to the terminal; resize
   * and signal frames. A client that leaves leaves the container running (as docker's
   * attach); one that types `detachKeys` (bytes, see parseDetachKeys) gets a detached
   * frame and is let go. Resolves when the client is gone, after the exit frame when the
   * container ended.
   */
  attach(conn: Duplex, initial: Buffer, stdin: boolean, detachKeys: Buffer = parseDetachKeys(DEFAULT_DETACH_KEYS)): Promise<void> {
    const decoder = new FrameDecoder();
    const matcher = new DetachMatcher(detachKeys);
    let detached = false;
    const onData = (chunk: Buffer) => {
      let frames;
      try {
        frames = decoder.push(chunk);
      } catch {
        conn.destroy();
        return;
      }
      for (const f of frames) {
        if (detached) return;
        if (f.type === Frame.stdin && stdin) {
          const { pass, detach } = matcher.push(f.payload);
          if (pass.length > 0) this.master.write(pass);
          if (detach) {
            detached = true;
            this.clients.delete(conn);
            conn.end(encodeFrame(Frame.detached));
            return;
          }
        }
        else if (f.type === Frame.resize) {
          const size = decodeResize(f.payload);
          if (size) this.master.resize(size.rows, size.cols);
        } else if (f.type === Frame.signal && this.running) {
          try {
            process.kill(-this.pid, `SIG${f.payload.toString('ascii')}` as NodeJS.Signals);
          } catch {
            // unknown signal, or gone
          }
        }
      }
    };
    conn.on('error', () => undefined);
    conn.once('end', () => conn.destroy());
    const gone = new Promise<void>((resolve) => conn.once('close', () => {
      this.clients.delete(conn);
      resolve();
    }));
    for (const f of encodeData(Frame.stdout, this.replay)) conn.write(f);
    if (this.code !== undefined) {
      const exit: ExecExit = { exitCode: this.code };
      conn.end(encodeFrame(Frame.exit, JSON.stringify(exit)));
      return gone;
    }
    this.clients.add(conn);
    conn.on('data', onData);
    if (initial.length > 0) onData(initial);
    conn.resume(); // paused while the request was read
    return gone;
  }
}
