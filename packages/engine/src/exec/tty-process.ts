/**
 * A process on a pseudo-terminal: `runc exec -d -t --console-socket`. runc sends us
 * the pty master and leaves once the process runs; the process is reparented to the
 * engine (a subreaper, see main.ts), which reaps it for its exit code.
 */
import { closeSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '@vxnet/common';
import { Frame, type ExecRequest } from '@vxnet/common/api';
import { ConsoleSocket } from '../runtime/console-socket.js';
import { PtyMaster } from '../runtime/pty-master.js';
import { readPid } from '../runtime/runc.js';
import type { ContainerRuntime } from '../runtime/runtime.js';
import type { AttachedProcess, OutputSink } from './attached-process.js';
import { reapLoop } from './reap.js';

/** How long runc may take to send the terminal. */
export const CONSOLE_TIMEOUT_MS = 10_000;
/** After the exit, output still in the terminal is sent for at most this long. */
const DRAIN_MS = 500;

/**
 * Start `req.cmd` on a terminal. Resolves once it runs (or with a process that is
 * already done, its exit code runc's, when runc could not start it: the reason is
 * sent as output, since a terminal has one stream).
 */
export async function startOnTty(runc: ContainerRuntime, id: string, req: ExecRequest, pidFile: string, out: OutputSink, log: Logger): Promise<AttachedProcess> {
  const socket = ConsoleSocket.open();
  let fd: number;
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
      out(Frame.stdout, Buffer.from(reason.replace(/\r?\n/g, '\r\n')));
      return finished(code);
    }
    fd = await received; // runc sent it before it exited 0
  } finally {
    socket.close();
  }

  const pid = readPid(pidFile);
  const master = new PtyMaster(fd, (d) => void out(Frame.stdout, d));
  if (req.rows && req.cols) master.resize(req.rows, req.cols);
  let reaped = false;
  const done = (async () => {
    const code = pid === undefined ? 255 : await reapLoop(pid, log);
    reaped = true;
    await Promise.race([master.ended, sleep(DRAIN_MS)]);
    await master.close();
    return code;
  })();
  return {
    pid: () => (reaped ? undefined : pid),
    write: (data) => {
      if (req.stdin) master.write(data);
    },
    endInput: () => undefined,
    resize: (rows, cols) => master.resize(rows, cols),
    pauseOutput: () => master.pause(),
    resumeOutput: () => master.resume(),
    done,
  };
}

function finished(code: number): AttachedProcess {
  return {
    pid: () => undefined, write: () => undefined, endInput: () => undefined, resize: () => undefined,
    pauseOutput: () => undefined, resumeOutput: () => undefined, done: Promise.resolve(code),
  };
}
