/**
 * Engine configuration: defaults -> config file (JSON) -> VXNET_* environment -> flags;
 * validated once (one error listing every problem), then frozen.
 */
import { readFileSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { parseArgs } from 'node:util';
import { InvalidArgument } from '@vxnet/common';

export interface EngineConfig {
  /** Name of this host, as the agent knows it (shown by inspect; hostname of --net host containers). */
  host: string;
  /** Containers (one directory each), runc's private root (`runc/`), images unless imagesDir says otherwise. */
  stateDir: string;
  /** Read-only root filesystems of the images (`<imagesDir>/busybox/rootfs`); may be shared by several engines. */
  imagesDir: string;
  /** Unix socket of the engine API. */
  socket: string;
  /** Unix socket of this host's agent (endpoints). */
  agentSocket: string;
  /** Sandbox namespaces are named `${netnsPrefix}s-<id12>`. */
  netnsPrefix: string;
  /** runc binary. */
  runc: string;
  /** Static busybox used to build the `busybox` image. */
  busybox: string;
  /** On SIGTERM, kill every running container before exiting (the lab's teardown); otherwise they keep running. */
  stopContainersOnExit: boolean;
  logFile: string | null;
  logLevel: string;
}

const HOST = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

export function loadConfig(argv: string[], env: NodeJS.ProcessEnv = process.env): Readonly<EngineConfig> {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      config: { type: 'string' }, host: { type: 'string' }, 'state-dir': { type: 'string' }, 'images-dir': { type: 'string' },
      socket: { type: 'string' }, 'agent-socket': { type: 'string' }, 'netns-prefix': { type: 'string' }, runc: { type: 'string' },
      busybox: { type: 'string' }, 'stop-containers-on-exit': { type: 'boolean' }, 'log-file': { type: 'string' }, 'log-level': { type: 'string' },
    },
  });
  const file = values.config ? (JSON.parse(readFileSync(values.config, 'utf8')) as Partial<EngineConfig>) : {};
  const pick = (flag: string | undefined, envName: string, fromFile: string | undefined, dflt: () => string): string =>
    flag ?? (env[envName] || undefined) ?? fromFile ?? dflt();
  const stateDir = pick(values['state-dir'], 'VXNET_ENGINE_STATE_DIR', file.stateDir, () => '/var/lib/vxnet/engine');
  const cfg: EngineConfig = {
    host: pick(values.host, 'VXNET_HOST_NAME', file.host, () => ''),
    stateDir,
    imagesDir: pick(values['images-dir'], 'VXNET_IMAGES_DIR', file.imagesDir, () => join(stateDir, 'images')),
    socket: pick(values.socket, 'VXNET_ENGINE_SOCKET', file.socket, () => '/run/vxnet/engine.sock'),
    agentSocket: pick(values['agent-socket'], 'VXNET_AGENT_SOCKET', file.agentSocket, () => '/run/vxnet/agent.sock'),
    netnsPrefix: pick(values['netns-prefix'], 'VXNET_NETNS_PREFIX', file.netnsPrefix, () => 'vxnet-'),
    runc: pick(values.runc, 'VXNET_RUNC', file.runc, () => 'runc'),
    busybox: pick(values.busybox, 'VXNET_BUSYBOX', file.busybox, () => '/bin/busybox'),
    stopContainersOnExit: values['stop-containers-on-exit'] ?? (env.VXNET_STOP_CONTAINERS_ON_EXIT === '1' || file.stopContainersOnExit === true),
    logFile: values['log-file'] ?? env.VXNET_LOG_FILE ?? file.logFile ?? null,
    logLevel: pick(values['log-level'], 'VXNET_LOG_LEVEL', file.logLevel, () => 'info'),
  };
  const problems: string[] = [];
  if (!HOST.test(cfg.host)) problems.push(`host name "${cfg.host}" is missing or invalid (--host, 1-64 characters [A-Za-z0-9_.-])`);
  for (const [flag, v] of [['--state-dir', cfg.stateDir], ['--images-dir', cfg.imagesDir], ['--socket', cfg.socket], ['--agent-socket', cfg.agentSocket]] as const) {
    if (!isAbsolute(v)) problems.push(`${flag} "${v}" must be an absolute path`);
  }
  if (!/^[A-Za-z0-9_.-]{1,40}$/.test(cfg.netnsPrefix)) problems.push(`namespace prefix "${cfg.netnsPrefix}" must be 1-40 characters [A-Za-z0-9_.-]`);
  if (problems.length > 0) throw new InvalidArgument(`invalid engine configuration: ${problems.join('; ')}`);
  return Object.freeze(cfg);
}
