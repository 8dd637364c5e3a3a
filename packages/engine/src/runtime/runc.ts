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
import { execFile, spawn } from 'node:child_process';
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

  /** Send a signal to the container's init. Not running / absent is success. Equivalent to: runc kill ID SIG */
  async kill(id: string, signal: string): Promise<void> {
    const r = await this.exec(['kill', id, signal]);
    if (r.code !== 0 && !/does not exist|not running|process already finished|container not running/.test(r.stderr)) {
      throw new RuncFailed(`kill ${signal}`, runcMessage(r.stderr));
    }
  }

  /** Remove runc's state of `id` (killing it if needed). Absent is success. Equivalent to: runc delete --force ID */
  async delete(id: string): Promise<void> {
    if (!existsSync(`${this.o.root}/${id}`)) return;
    const r = await this.exec(['delete', '--force', id]);
    if (r.code !== 0 && !/does not exist/.test(r.stderr)) throw new RuncFailed('delete', runcMessage(r.stderr));
  }

  /**
   * Run a process in the running container `id` with stdout/stderr to files (files,
   * not pipes, so a background process left by the command cannot hold our reads
   * open). Resolves with its exit code (128+N when killed by signal N; runc's own
   * failures are 255 with the reason in `errFile`).
   *
   * Equivalent to: runc exec [--env K=V]… ID CMD… >OUT 2>ERR
   */
  execIn(id: string, cmd: string[], env: string[], outFile: string, errFile: string): Promise<number> {
    const out = openSync(outFile, 'w');
    const err = openSync(errFile, 'w');
    try {
      const args = [...this.base(), 'exec', ...env.flatMap((e) => ['--env', e]), id, ...cmd];
      const child = spawn(this.o.binary, args, { stdio: ['ignore', out, err] });
      return new Promise((resolve, reject) => {
        child.on('error', reject);
        child.on('exit', (code, sig) => resolve(code ?? 128 + (sig ? signalNumber(sig) : 0)));
      });
    } finally {
      closeSync(out);
      closeSync(err);
    }
  }
}

function signalNumber(sig: NodeJS.Signals): number {
  const n: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGKILL: 9, SIGTERM: 15 };
  return n[sig] ?? 0;
}

function readPid(file: string): number | undefined {
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
