/**
 * Processes vxnet starts and must later stop: recorded by pid *and* kernel start time,
 * so a recycled pid is never mistaken for ours. We end only processes we started,
 * by pid, never by name.
 */
import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/** What is recorded about a started process. */
export interface ProcessRecord {
  pid: number;
  /** Field 22 of /proc/PID/stat (clock ticks since boot): identifies this incarnation of the pid. */
  startTime: number;
  /** argv[0] basename, for humans. */
  command: string;
}

/** Start time of a live pid, or undefined when no such process exists. */
export function processStartTime(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // comm (field 2) may contain spaces and parens: fields after the last ')' are fixed.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const st = Number(rest[19]);
    return Number.isFinite(st) ? st : undefined;
  } catch {
    return undefined;
  }
}

export function recordProcess(pid: number, command: string): ProcessRecord {
  const startTime = processStartTime(pid);
  if (startTime === undefined) throw new Error(`process ${pid} (${command}) exited right after start`);
  return { pid, startTime, command };
}

/** True while the recorded process (same pid, same start time) exists and is not a zombie. */
export function isAlive(rec: ProcessRecord): boolean {
  if (processStartTime(rec.pid) !== rec.startTime) return false;
  try {
    const state = readFileSync(`/proc/${rec.pid}/stat`, 'utf8');
    return state.slice(state.lastIndexOf(')') + 2, state.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/**
 * Stop a recorded process: SIGTERM, wait up to `graceMs`, then SIGKILL and wait until
 * it is gone. Does nothing if the pid is gone or now belongs to another process.
 * Idempotent.
 */
export async function stopProcess(rec: ProcessRecord, graceMs = 5000): Promise<void> {
  if (!isAlive(rec)) return;
  signal(rec.pid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (isAlive(rec) && Date.now() < deadline) await sleep(20);
  if (!isAlive(rec)) return;
  signal(rec.pid, 'SIGKILL');
  const killDeadline = Date.now() + 5000;
  while (isAlive(rec) && Date.now() < killDeadline) await sleep(20);
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
}

export interface DaemonOptions {
  command: string;
  args: string[];
  /** File that receives stdout and stderr (appended). Never pipes: a daemon must outlive us. */
  logFile: string;
  /** Run inside this network namespace (path, e.g. /run/netns/X) via `nsenter --net=`. */
  netnsPath?: string;
  /** Also inside this mount namespace (e.g. /proc/PID/ns/mnt) via `nsenter --mount=`, and this UTS namespace via `--uts=`. */
  mountnsPath?: string;
  utsnsPath?: string;
  /** Own process group, not keeping Node alive: for daemons that outlive the CLI that started them. */
  detached?: boolean;
  env?: NodeJS.ProcessEnv;
}

/**
 * Start a long-running process and record it. With namespaces, `nsenter --net=PATH … --
 * COMMAND` execs the command without forking, so the recorded pid is the daemon's.
 * (`ip netns exec` would give it a private mount namespace, see notes/kernel.md.)
 */
export function spawnDaemon(opts: DaemonOptions): ProcessRecord {
  const enter = [
    ...(opts.netnsPath ? [`--net=${opts.netnsPath}`] : []),
    ...(opts.mountnsPath ? [`--mount=${opts.mountnsPath}`] : []),
    ...(opts.utsnsPath ? [`--uts=${opts.utsnsPath}`] : []),
  ];
  const [cmd, argv] = enter.length > 0 ? ['nsenter', [...enter, '--', opts.command, ...opts.args]] : [opts.command, opts.args];
  const log = openSync(opts.logFile, 'a');
  try {
    const child = spawn(cmd, argv, { stdio: ['ignore', log, log], detached: opts.detached ?? false, env: opts.env ?? process.env });
    child.on('error', () => undefined); // a failed exec shows as a dead pid to the caller's health check
    if (child.pid === undefined) throw new Error(`could not start ${opts.command}`);
    if (opts.detached) child.unref();
    return recordProcess(child.pid, basename(opts.command));
  } finally {
    closeSync(log);
  }
}
