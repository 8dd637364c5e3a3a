/**
 * A process on a pseudo-terminal: `runc exec -d -t --console-socket`. runc sends us
 * the pty master and leaves once the process runs; the process is reparented to the
 * engine (a subreaper, see main.ts), which reaps it for its exit code.
 *
 * The master is read through a tty.ReadStream (libuv, non-blocking), which owns it and
 * closes it at the end of the output (EIO), and written with fs.write on a dup of it
 * that only we close, once no write is in flight: Node has no writable stream for a
 * pty master that never blocks the event loop (tty.WriteStream makes the file
 * blocking), and a client that pastes faster than the program reads must not stall
 * the engine, so a full terminal (EAGAIN) is retried a little later.
 */
import { closeSync, write as fsWrite } from 'node:fs';
import { ReadStream } from 'node:tty';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '@vxnet/common';
import { Frame, type ExecRequest } from '@vxnet/common/api';
import { native } from '@vxnet/netns';
import { ConsoleSocket } from '../runtime/console-socket.js';
import { readPid, type Runc } from '../runtime/runc.js';
import type { AttachedProcess, OutputSink } from './attached-process.js';

/** How long runc may take to send the terminal. */
const CONSOLE_TIMEOUT_MS = 10_000;
/** How often an exited process is looked for (its exit is seen at most this late). */
const REAP_EVERY_MS = 50;
/** After the exit, output still in the terminal is sent for at most this long. */
const DRAIN_MS = 500;

/**
 * Start `req.cmd` on a terminal. Resolves once it runs (or with a process that is
 * already done, its exit code runc's, when runc could not start it: the reason is
 * sent as output, since a terminal has one stream).
 */
export async function startOnTty(runc: Runc, id: string, req: ExecRequest, pidFile: string, out: OutputSink, log: Logger): Promise<AttachedProcess> {
  const socket = ConsoleSocket.open();
  let master: number;
  try {
    const child = runc.execProcess(id, req.cmd, { env: req.env ?? [], pidFile, stdin: false, consoleSocket: socket.path });
    let reason = '';
    child.stderr?.on('data', (d: Buffer) => (reason += d.toString()));
    const received = socket.receive(CONSOLE_TIMEOUT_MS);
    const code = await new Promise<number>((resolve) => {
      child.on('error', (err) => resolve((reason += `could not start runc: ${err.message}\n`, 255)));
      child.on('close', (c) => resolve(c ?? 255));
    });
    if (code !== 0) {
      socket.abandon();
      await received.then(closeSync, () => undefined);
      out(Frame.stdout, Buffer.from(reason.replace(/\n?$/, '\r\n').replace(/([^\r])\n/g, '$1\r\n')));
      return finished(code);
    }
    master = await received; // runc sent it before it exited 0
  } finally {
    socket.close();
  }

  const pid = readPid(pidFile);
  native().setNonBlocking(master);
  if (req.rows && req.cols) native().setWinsize(master, req.rows, req.cols);
  const input = native().dup(master);
  const reader = new ReadStream(master);
  reader.on('data', (d: Buffer) => void out(Frame.stdout, d));
  // EIO once no process holds the terminal any more: the end of its output
  reader.on('error', () => undefined);
  const drained = new Promise<void>((resolve) => reader.once('close', resolve));

  let writing: Promise<void> = Promise.resolve();
  let closed = false;
  const writeAll = async (data: Buffer): Promise<void> => {
    for (let at = 0; at < data.length && !closed;) {
      const r = await new Promise<{ n: number; err?: NodeJS.ErrnoException }>((resolve) => fsWrite(input, data, at, data.length - at, null, (err, n) => resolve({ n, ...(err ? { err } : {}) })));
      if (r.err?.code === 'EAGAIN') await sleep(10);
      else if (r.err) return;
      else at += r.n;
    }
  };

  let reaped = false;
  const done = (async () => {
    let code: number | null = null;
    if (pid === undefined) {
      log.warn('runc wrote no pid file for the exec: its end cannot be seen');
      code = 255;
    }
    while (code === null) {
      await sleep(REAP_EVERY_MS);
      try {
        code = native().reap(pid as number);
      } catch (err) {
        // not our child: the engine is not a subreaper (main.ts sets it), so the code is lost
        log.error({ err, pid }, 'could not reap an exec process');
        code = 255;
      }
    }
    reaped = true;
    await Promise.race([drained, sleep(DRAIN_MS)]);
    closed = true;
    await writing; // no fs.write may be in flight when the fd closes
    closeSync(input);
    reader.destroy();
    return code;
  })();

  return {
    pid: () => (reaped ? undefined : pid),
    write: (data) => {
      if (!closed && req.stdin) writing = writing.then(() => writeAll(data));
    },
    endInput: () => undefined,
    resize: (rows, cols) => {
      if (!closed) native().setWinsize(input, rows, cols);
    },
    pauseOutput: () => reader.pause(),
    resumeOutput: () => reader.resume(),
    done,
  };
}

function finished(code: number): AttachedProcess {
  return {
    pid: () => undefined, write: () => undefined, endInput: () => undefined, resize: () => undefined,
    pauseOutput: () => undefined, resumeOutput: () => undefined, done: Promise.resolve(code),
  };
}
