/**
 * runc, driven with a private state root (`runc --root DIR`) so that several engines
 * (and other users of runc) never see each other's containers.
 *
 * A container runs under a tiny shim: `sh -c 'runc run …; echo $? > exit'`, started
 * in its own session with stdio on the container's log file (never pipes: runc
 * would hang, shared/notes/kernel.md). Foreground `runc run` stays the container's
 * parent, so it collects the exit status, removes the container's runc state and
 * cgroup when it ends, and the shim records the status in a file: the exit code
 * survives an engine restart, and an exited container leaves no runc state behind.
 * runc writes --pid-file only once the container process runs, so the file's
 * appearance is the "running" signal.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { recordProcess, type Logger, type ProcessRecord } from '@vxnet/common';
import { RuncFailed } from '../errors.js';
import type { ContainerRuntime } from './runtime.js';

export interface RuncOptions {
  binary: string;
  /** Private state root (`runc --root`). */
  root: string;
  log: Logger;
}

export interface RuncState {
  id: string;
  pid: number;
  status: 'creating' | 'created' | 'running' | 'paused' | 'stopped';
  bundle: string;
}

export interface RunFiles {
  bundle: string;
  pidFile: string;
  exitFile: string;
  /** stdout+stderr of the container (appended). */
  logFile: string;
  /** runc's own JSON log: its error message when the start fails. */
  runcLog: string;
}

export interface Started {
  shim: ProcessRecord;
  /** The container's init, as seen from the engine's pid namespace. */
  pid: number;
  /** Resolves when the shim exits (only while this engine process is its parent). */
  exited: Promise<void>;
}

const SHIM = 'exit_file=$1; shift; "$@"; echo $? > "$exit_file"';

export class Runc implements ContainerRuntime {
  constructor(private readonly o: RuncOptions) {}

  private base(): string[] {
    return ['--root', this.o.root];
  }

  private exec(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    return new Promise((resolve) => {
      execFile(this.o.binary, [...this.base(), ...args], { encoding: 'utf8', maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
        const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0;
        resolve({ code, stdout, stderr });
      });
    });
  }

  /** `runc state ID`, or undefined when runc has no such container. */
  async state(id: string): Promise<RuncState | undefined> {
    if (!existsSync(`${this.o.root}/${id}`)) return undefined;
    const r = await this.exec(['state', id]);
    if (r.code !== 0) {
      if (/does not exist/.test(r.stderr)) return undefined;
      throw new RuncFailed('state', runcMessage(r.stderr));
    }
    return JSON.parse(r.stdout) as RuncState;
  }

  /**
   * Start container `id` from `files.bundle` under a shim; resolves once the
   * container process runs. Throws RuncFailed with runc's message when it cannot
   * start (runc has then removed its state: nothing is left running).
   *
   * Equivalent to: runc --root R run --bundle B --pid-file P ID >>LOG 2>&1 &
   */
  async run(id: string, files: RunFiles, timeoutMs = 30_000): Promise<Started> {
    const out = openSync(files.logFile, 'a');
    let child;
    try {
      child = spawn('/bin/sh', ['-c', SHIM, 'vxnet-shim', files.exitFile, this.o.binary, ...this.base(), '--log', files.runcLog, '--log-format', 'json',
        'run', '--bundle', files.bundle, '--pid-file', files.pidFile, id], { stdio: ['ignore', out, out], detached: true });
    } finally {
      closeSync(out);
    }
    let gone = false;
    const exited = new Promise<void>((resolve) => {
      child.on('exit', () => {
        gone = true;
        resolve();
      });
      child.on('error', () => {
        gone = true;
        resolve();
      });
    });
    child.unref();
    if (child.pid === undefined) throw new RuncFailed('run', 'could not start /bin/sh');
    const shim = recordProcess(child.pid, 'vxnet-shim');
    const deadline = Date.now() + timeoutMs;
    for (let wait = 1; ; wait = Math.min(wait * 2, 10)) {
      const pid = readPid(files.pidFile);
      if (pid !== undefined) return { shim, pid, exited };
      if (gone) throw new RuncFailed('run', (lastRuncError(files.runcLog) ?? 'it exited before the container started').replace(/^runc run failed: /, ''));
      if (Date.now() > deadline) {
        try {
          process.kill(shim.pid, 'SIGKILL');
        } catch {
          // gone
        }
        throw new RuncFailed('run', `the container did not start within ${timeoutMs} ms`);
      }
      await sleep(wait);
    }
  }

  /**
   * Start container `id` on a pseudo-terminal: runc sends the pty master to
   * `consoleSocket` and detaches (`-d`, which runc requires with a console socket).
   * Resolves once the container process runs; it is then reparented to the nearest
   * subreaper, and its runc state stays after it exits (delete() removes it). Throws
   * RuncFailed with runc's message when it cannot start.
   *
   * Equivalent to: runc --root R run -d --console-socket S --bundle B --pid-file P ID
   */
  async runDetached(id: string, files: Pick<RunFiles, 'bundle' | 'pidFile' | 'runcLog'>, consoleSocket: string): Promise<void> {
    const r = await this.exec(['--log', files.runcLog, '--log-format', 'json', 'run', '-d', '--console-socket', consoleSocket,
      '--bundle', files.bundle, '--pid-file', files.pidFile, id]);
    if (r.code !== 0) throw new RuncFailed('run', (lastRuncError(files.runcLog) ?? runcMessage(r.stderr)).replace(/^runc run failed: /, ''));
  }

  /** Send a signal to the container's init. Not running / absent is success. Equivalent to: runc kill ID SIG */
  async kill(id: string, signal: string): Promise<void> {
    const r = await this.exec(['kill', id, signal]);
    if (r.code !== 0 && !/does not exist|not running|process already finished|container not running/.test(r.stderr)) {
      throw new RuncFailed(`kill ${signal}`, runcMessage(r.stderr));
    }
  }

  /** Freeze the container's processes. Equivalent to: runc pause ID */
  async pause(id: string): Promise<void> {
    const r = await this.exec(['pause', id]);
    if (r.code !== 0) throw new RuncFailed('pause', runcMessage(r.stderr));
  }

  /** Thaw them. Not paused / absent is success. Equivalent to: runc resume ID */
  async resume(id: string): Promise<void> {
    const r = await this.exec(['resume', id]);
    if (r.code !== 0 && !/does not exist|not paused|container not running/.test(r.stderr)) throw new RuncFailed('resume', runcMessage(r.stderr));
  }

  /** Remove runc's state of `id` (killing it if needed). Absent is success. Equivalent to: runc delete --force ID */
  async delete(id: string): Promise<void> {
    if (!existsSync(`${this.o.root}/${id}`)) return;
    const r = await this.exec(['delete', '--force', id]);
    if (r.code !== 0 && !/does not exist/.test(r.stderr)) throw new RuncFailed('delete', runcMessage(r.stderr));
  }

  /**
   * Start a process in the running container `id`; runc writes its pid (in our pid
   * namespace) to `o.pidFile` once it runs. The process leads its own session and
   * process group (runc's nsexec calls setsid), so signalling `-pid` reaches it and
   * its children, as a terminal's Ctrl-C does.
   *
   * Without a console socket runc stays in the foreground: the child's stdio are
   * pipes that runc relays to and from the process (stdin only with `o.stdin`, else
   * /dev/null), and it exits with the process's exit code (128+N after signal N; 255
   * when the process could not be started, e.g. no such command, its reason on stderr).
   * Pipes, unlike a container's log files, end only when every holder closes them: a
   * background process that the command leaves holding its stdout keeps the exec open
   * until it ends or is killed with the process group (as docker's exec does).
   *
   * With `o.consoleSocket` the process gets a pseudo-terminal and runc detaches
   * (`-d`, which runc requires with a console socket): it sends the pty master to the
   * socket, exits 0 once the process runs (non-zero with its reason on stderr
   * otherwise), and the process is reparented to the nearest subreaper.
   *
   * Equivalent to: runc exec [-d -t --console-socket S] --pid-file P [--env K=V]… ID CMD…
   */
  execProcess(id: string, cmd: string[], o: ExecProcessOptions): ChildProcess {
    const tty = o.consoleSocket !== undefined ? ['-d', '-t', '--console-socket', o.consoleSocket] : [];
    const args = [...this.base(), 'exec', ...tty, '--pid-file', o.pidFile, ...o.env.flatMap((e) => ['--env', e]), id, ...cmd];
    // its own session: a Ctrl-C aimed at an engine run in a terminal does not reach it
    return spawn(this.o.binary, args, { stdio: [o.stdin && !tty.length ? 'pipe' : 'ignore', tty.length ? 'ignore' : 'pipe', 'pipe'], detached: true });
  }
}

export interface ExecProcessOptions {
  /** K=V entries added to the container's environment. */
  env: string[];
  pidFile: string;
  /** Relay the child's stdin to the process (pipes only). */
  stdin: boolean;
  /** Give the process a pseudo-terminal whose master runc sends to this unix socket. */
  consoleSocket?: string;
}

export function readPid(file: string): number | undefined {
  try {
    const n = Number(readFileSync(file, 'utf8').trim());
    return Number.isInteger(n) && n > 0 ? n : undefined;
  } catch {
    return undefined;
  }
}

/** runc's message without its logrus decoration. */
function runcMessage(stderr: string): string {
  const lines = stderr.trim().split('\n').filter(Boolean);
  const last = lines[lines.length - 1] ?? 'no message';
  const m = /msg="((?:[^"\\]|\\.)*)"/.exec(last);
  return m?.[1]?.replace(/\\"/g, '"') ?? last;
}

/** The last error runc wrote to its JSON log. */
export function lastRuncError(file: string): string | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
  let msg: string | undefined;
  for (const line of text.split('\n')) {
    try {
      const rec = JSON.parse(line) as { level?: string; msg?: string };
      if ((rec.level === 'error' || rec.level === 'fatal') && rec.msg) msg = rec.msg;
    } catch {
      // not JSON
    }
  }
  return msg;
}
