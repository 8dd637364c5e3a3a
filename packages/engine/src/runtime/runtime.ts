/**
 * What the engine needs of a container runtime: runc.ts implements it with runc, the
 * engine's unit tests with a fake. Container ids are the engine's 64-hex ids; the
 * runtime keeps its state of container `id` under its own private root only.
 */
import type { ChildProcess } from 'node:child_process';
import type { ExecProcessOptions, RunFiles, Started } from './runc.js';

export interface ContainerRuntime {
  /**
   * Start container `id` from `files.bundle`; resolves once its process runs. Not
   * idempotent. Throws RuncFailed with the runtime's reason when it cannot start; the
   * runtime then keeps no state of `id` and nothing is left running.
   */
  run(id: string, files: RunFiles): Promise<Started>;
  /** Send `signal` (e.g. "TERM") to the init of `id`. Not running or absent is success. */
  kill(id: string, signal: string): Promise<void>;
  /** Freeze every process of running container `id` (cgroup freezer), until resume(). Throws RuncFailed. */
  pause(id: string): Promise<void>;
  /** Thaw a paused container. Not paused, or absent: success. */
  resume(id: string): Promise<void>;
  /** Remove the runtime's state of `id`, killing it first if needed. Idempotent: absent is success. */
  delete(id: string): Promise<void>;
  /**
   * Start container `id` on a pseudo-terminal whose master the runtime sends to the
   * unix socket `consoleSocket`; resolves once the process runs (it is then reparented
   * to the nearest subreaper). Throws RuncFailed when it cannot start.
   */
  runDetached(id: string, files: Pick<RunFiles, 'bundle' | 'pidFile' | 'runcLog'>, consoleSocket: string): Promise<void>;
  /**
   * Start `cmd` in the running container `id` (on pipes, or on a terminal with
   * `o.consoleSocket`); the returned child is the runtime's own process (see runc.ts).
   */
  execProcess(id: string, cmd: string[], o: ExecProcessOptions): ChildProcess;
}
