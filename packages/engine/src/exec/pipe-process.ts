/**
 * A process on pipes: foreground `runc exec`, which relays the process's stdin,
 * stdout and stderr through pipes and exits with its exit code. stdout and stderr
 * stay apart; nothing is buffered beyond the pipes.
 */
import { constants } from 'node:os';
import { Frame, type ExecRequest } from '@vxnet/common/api';
import { readPid } from '../runtime/runc.js';
import type { ContainerRuntime } from '../runtime/runtime.js';
import type { AttachedProcess, OutputSink } from './attached-process.js';

export function startOnPipes(runc: ContainerRuntime, id: string, req: ExecRequest, pidFile: string, out: OutputSink): AttachedProcess {
  const child = runc.execProcess(id, req.cmd, { env: req.env ?? [], pidFile, stdin: req.stdin === true });
  let pid: number | undefined;
  let ended = false;
  const outputs = [child.stdout, child.stderr];
  child.stdout?.on('data', (d: Buffer) => void out(Frame.stdout, d));
  child.stderr?.on('data', (d: Buffer) => void out(Frame.stderr, d));
  child.stdin?.on('error', () => undefined); // EPIPE: the process stopped reading
  const done = new Promise<number>((resolve) => {
    child.on('error', (err) => {
      out(Frame.stderr, Buffer.from(`vxnet: could not start runc: ${err.message}\n`));
      resolve(255);
    });
    // 'close': runc has exited and both pipes are drained
    child.on('close', (code, signal) => resolve(code ?? 128 + (signal ? constants.signals[signal] : 0)));
  }).finally(() => {
    ended = true;
  });
  return {
    pid: () => {
      if (ended) return undefined;
      pid ??= readPid(pidFile);
      return pid;
    },
    write: (data) => {
      if (child.stdin?.writable) child.stdin.write(data);
    },
    endInput: () => child.stdin?.end(),
    resize: () => undefined,
    pauseOutput: () => outputs.forEach((s) => s?.pause()),
    resumeOutput: () => outputs.forEach((s) => s?.resume()),
    done,
  };
}

