/**
 * The lab's daemons, started exactly as on a real host: the installed binary with
 * `--config FILE` and nothing else, inside its machine (machine.ts), so every default
 * (sockets under /run/vxnet, state under /var/lib/vxnet, host name, namespace names)
 * is the real one. The config files hold only what differs between real sites too:
 * where the store is, what the underlay is, which DNS upstreams to use.
 */
import { existsSync, realpathSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { callJson, isAlive, stopProcess, writeJsonAtomic, type ProcessRecord } from '@vxnet/common';
import { CommandFailed, MissingTool } from '../errors.js';
import { spawnInMachine } from './machine.js';
import type { LabDaemon, LabMachine } from './lab-state.js';

export type DaemonKind = 'controller' | 'agent' | 'engine';

/** Health route of each daemon's API. */
const HEALTH: Record<DaemonKind, string> = { controller: '/v1/health', agent: '/v1/status', engine: '/v1/health' };

/**
 * A daemon's executable, found the way a shell would, so the lab runs exactly what a
 * host runs: VXNET_BIN_DIR if set, else the `node_modules/.bin` next to this CLI's
 * installation (npm links every workspace's bins there), else PATH.
 */
export function daemonBin(kind: DaemonKind): string {
  const name = `vxnet-${kind}`;
  const dirs: string[] = [];
  if (process.env.VXNET_BIN_DIR) dirs.push(process.env.VXNET_BIN_DIR);
  for (let dir = dirname(fileURLToPath(import.meta.url)); ; dir = dirname(dir)) {
    dirs.push(join(dir, 'node_modules', '.bin'));
    if (dirname(dir) === dir) break;
  }
  dirs.push(...(process.env.PATH ?? '').split(':').filter(Boolean));
  for (const dir of dirs) {
    const candidate = join(dir, name);
    if (existsSync(candidate)) return realpathSync(candidate);
  }
  throw new MissingTool(name);
}

/**
 * Write the daemon's config file and return its command line: the bin file itself, as
 * the systemd units' ExecStart runs it, so its #! line applies in the lab as on a real
 * host (the agent's is `env -S MALLOC_ARENA_MAX=2 node --optimize-for-size`).
 */
export function daemonCommand(kind: DaemonKind, daemon: Pick<LabDaemon, 'config'>, config: Record<string, unknown>): string[] {
  writeJsonAtomic(daemon.config, config);
  return [daemonBin(kind), '--config', daemon.config];
}

/** Start a recorded daemon in its machine (its `command`); the caller records the process. */
export function startDaemon(machine: LabMachine, daemon: LabDaemon): ProcessRecord {
  if (!machine.keeper || !isAlive(machine.keeper)) {
    throw new CommandFailed(`starting a daemon on ${machine.name}`, `the machine is gone (its keeper is not running); run \`vxnet lab down\` and \`lab up\` again`);
  }
  return spawnInMachine(machine.keeper, daemon.command, daemon.logFile);
}

/** Poll the daemon's health route on its unix socket until it answers 2xx (60 s: a loaded 2-core machine starting a dozen daemons needs tens of seconds). */
export async function waitHealthy(what: string, kind: DaemonKind, daemon: LabDaemon, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    if (!daemon.process || !isAlive(daemon.process)) throw new CommandFailed(what, `it exited at start (see ${daemon.logFile})`);
    try {
      await callJson({ socketPath: daemon.socket }, 'GET', HEALTH[kind], undefined, {
        timeoutMs: 5000,
        who: what,
        unreachable: (err) => new CommandFailed(what, `not reachable at ${daemon.socket}: ${err.message}`),
      });
      return;
    } catch (err) {
      last = (err as Error).message;
    }
    await sleep(50);
  }
  throw new CommandFailed(what, `not healthy after ${timeoutMs} ms: ${last}`);
}

/** SIGTERM, then SIGKILL after `graceMs`; not running is success. */
export async function stopDaemon(daemon: LabDaemon, graceMs = 10_000): Promise<void> {
  if (daemon.process && isAlive(daemon.process)) await stopProcess(daemon.process, graceMs);
}
