/**
 * One `exec`: a process in a running container, attached to one client connection
 * that carries the exec frame stream (the format: ExecRequest in
 * @vxnet/common/api engine.ts).
 *
 * Two ways to run it, because runc has two:
 * - pipes (no TTY, pipe-process.ts): foreground `runc exec` relays stdin, stdout and
 *   stderr, and exits with the process's exit code;
 * - a TTY (tty-process.ts): `runc exec -d -t --console-socket` hands us the pty
 *   master; the engine reaps the process (it is the subreaper) for its exit code.
 *
 * Either way the process leads its own process group (runc calls setsid). Signal
 * frames go to that group, as a terminal's Ctrl-C does. The exec belongs to its
 * connection: when the client goes away before the exit frame, the group is killed,
 * so nothing a client started keeps running without a client.
 */
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { constants } from 'node:os';
import type { Duplex } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '@vxnet/common';
import { Frame, FrameDecoder, decodeResize, encodeData, encodeFrame, type ExecExit, type ExecRequest, type FrameType } from '@vxnet/common/api';
import type { ContainerRuntime } from '../runtime/runtime.js';
import type { AttachedProcess } from './attached-process.js';
import { startOnPipes } from './pipe-process.js';
import { startOnTty } from './tty-process.js';

export interface ExecSessionOptions {
  runc: ContainerRuntime;
  /** runc id of the running container. */
  id: string;
  /** Directory for the session's pid file (the container's). */
  dir: string;
  req: ExecRequest;
  /** The upgraded connection. */
  conn: Duplex;
  /** Bytes that arrived with the request, after its body: the first frames. */
  initial: Buffer;
  log: Logger;
}

/** How long a client that went away leaves for the process group to die of SIGKILL before giving up on it. */
const KILL_WAIT_MS = 5_000;

/** Run the exec to its end; resolves with the exit code (sent in the exit frame when the client is still there). */
export async function runExecSession(o: ExecSessionOptions): Promise<number> {
  const { conn, log } = o;
  const pidFile = join(o.dir, `exec-${randomBytes(6).toString('hex')}.pid`);
  let proc: AttachedProcess | undefined;
  let clientGone = false;
  let outputPaused = false;

  const out = (type: FrameType, data: Buffer): boolean => {
    if (clientGone || conn.destroyed) return false;
    let ok = true;
    for (const f of encodeData(type, data)) ok = conn.write(f) && ok;
    if (!ok && !outputPaused) {
      outputPaused = true;
      proc?.pauseOutput();
      conn.once('drain', () => {
        outputPaused = false;
        proc?.resumeOutput();
      });
    }
    return ok;
  };

  let ended = false;
  /** Signal the process group; before runc has written the pid, wait for it (the start is quick). */
  const signalGroup = async (signal: NodeJS.Signals): Promise<void> => {
    const deadline = Date.now() + KILL_WAIT_MS;
    let pid = proc?.pid();
    while (pid === undefined && !ended && Date.now() < deadline) {
      await sleep(20);
      pid = proc?.pid();
    }
    if (pid === undefined || ended) return;
    try {
      process.kill(-pid, signal);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ESRCH') log.warn({ err, pid, signal }, 'could not signal an exec process group');
    }
  };

  const decoder = new FrameDecoder();
  const onData = (chunk: Buffer) => {
    let frames;
    try {
      frames = decoder.push(chunk);
    } catch (err) {
      log.warn({ err }, 'exec stream: protocol error, closing it');
      conn.destroy();
      return;
    }
    for (const f of frames) {
      if (!proc) continue;
      if (f.type === Frame.stdin) proc.write(f.payload);
      else if (f.type === Frame.stdinEof) proc.endInput();
      else if (f.type === Frame.resize) {
        const size = decodeResize(f.payload);
        if (size) proc.resize(size.rows, size.cols);
      } else if (f.type === Frame.signal) {
        const name = `SIG${f.payload.toString('ascii')}`;
        if (name in constants.signals) void signalGroup(name as NodeJS.Signals);
      }
    }
  };

  conn.on('error', () => undefined); // 'close' follows
  // The client never half-closes (stdin has its own end frame), and the HTTP server's
  // sockets allow half-open connections: its end is its departure.
  conn.once('end', () => conn.destroy());
  conn.once('close', () => {
    clientGone = true;
    void signalGroup('SIGKILL');
  });
  conn.pause(); // until the process exists to take the frames
  conn.on('data', onData);

  try {
    proc = o.req.tty ? await startOnTty(o.runc, o.id, o.req, pidFile, out, log) : startOnPipes(o.runc, o.id, o.req, pidFile, out);
    if (outputPaused) proc.pauseOutput();
    if (o.initial.length > 0) onData(o.initial);
    conn.resume();
    const exitCode = await proc.done;
    ended = true;
    if (!clientGone) {
      const exit: ExecExit = { exitCode };
      conn.end(encodeFrame(Frame.exit, JSON.stringify(exit)));
    }
    log.info({ exitCode, clientGone }, 'exec ended');
    return exitCode;
  } catch (err) {
    log.error({ err }, 'exec failed');
    conn.destroy();
    throw err;
  } finally {
    rmSync(pidFile, { force: true });
  }
}
