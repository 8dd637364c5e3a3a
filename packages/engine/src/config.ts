/**
 * Engine configuration: its schema for the common loader (defaults < file < VXNET_*
 * environment < flags; one error listing every problem; frozen).
 */
import { hostname } from 'node:os';
import { join } from 'node:path';
import { hostPortProblem } from '@vxnet/common/metrics';
import { absolutePath, absolutePathOrNull, hostName, logLevel, type ConfigSchema } from '@vxnet/common';

export interface EngineConfig {
  /** Name of this host, as the agent knows it (shown by inspect; hostname of --net host containers). */
  host: string;
  /** Containers (one directory each), runc's private root (`runc/`), images unless imagesDir says otherwise. */
  stateDir: string;
  /**
   * The images: the built-in busybox (`<imagesDir>/busybox/rootfs`) and loaded images (image/image-store.ts).
   * One engine per directory: an engine removes the layers that no image it knows of uses.
   */
  imagesDir: string;
  /** Unix socket of the engine API. */
  socket: string;
  /** Unix socket of this host's agent (endpoints). */
  agentSocket: string;
  /** runc binary. */
  runc: string;
  /** Static busybox used to build the `busybox` image. */
  busybox: string;
  /** Also serve GET /metrics on this HOST:PORT (plain HTTP, nothing else there); null: only on the API socket. */
  metricsAddr: string | null;
  /** Registries (`host:port`, comma-separated) `pull` speaks plain HTTP to; loopback ones always may be. */
  insecureRegistries: string;
  /** A CA file (PEM) `pull` trusts besides the system CAs; null: none. */
  registryCaFile: string | null;
  logLevel: string;
  logFile: string | null;
}

export const ENGINE_CONFIG: ConfigSchema<EngineConfig> = {
  host: { type: 'string', default: () => hostname(), env: 'VXNET_HOST_NAME', flag: 'host', doc: 'name of this host, as its agent knows it (default: the system host name)', validate: hostName },
  stateDir: { type: 'string', default: '/var/lib/vxnet/engine', env: 'VXNET_ENGINE_STATE_DIR', flag: 'state-dir', doc: 'containers, runc\'s root, and images unless imagesDir is set', validate: absolutePath },
  imagesDir: { type: 'string', default: (c) => join(c.stateDir ?? '/var/lib/vxnet/engine', 'images'), env: 'VXNET_IMAGES_DIR', flag: 'images-dir', doc: 'the image store: busybox and loaded images, one engine per directory (default: stateDir/images)', validate: absolutePath },
  socket: { type: 'string', default: '/run/vxnet/engine.sock', env: 'VXNET_ENGINE_SOCKET', flag: 'socket', doc: 'unix socket of the engine API (the CLI talks to it)', validate: absolutePath },
  agentSocket: { type: 'string', default: '/run/vxnet/agent.sock', env: 'VXNET_AGENT_SOCKET', flag: 'agent-socket', doc: 'unix socket of this host\'s agent', validate: absolutePath },
  runc: { type: 'string', default: 'runc', env: 'VXNET_RUNC', flag: 'runc', doc: 'runc binary (a name is looked up in PATH)', validate: (v) => (v === '' ? 'must name the runc binary' : undefined) },
  busybox: { type: 'string', default: '/bin/busybox', env: 'VXNET_BUSYBOX', flag: 'busybox', doc: 'static busybox the "busybox" image is built from', validate: absolutePath },
  metricsAddr: {
    type: 'string|null', default: null, env: 'VXNET_METRICS_ADDR', flag: 'metrics-addr',
    doc: 'also serve GET /metrics (Prometheus, no auth) on this HOST:PORT; null (the default): only on the API socket',
    validate: (v) => (v === null ? undefined : hostPortProblem(v)),
  },
  insecureRegistries: {
    type: 'string', default: '', env: 'VXNET_INSECURE_REGISTRIES', flag: 'insecure-registries',
    doc: 'registries (host:port, comma-separated) pull may speak plain HTTP to; loopback ones always may',
    validate: (v) => (v.split(',').filter(Boolean).every((r) => /^[A-Za-z0-9.-]+(:\d{1,5})?$/.test(r)) ? undefined : 'must be a comma-separated list of host[:port]'),
  },
  registryCaFile: { type: 'string|null', default: null, env: 'VXNET_REGISTRY_CA_FILE', flag: 'registry-ca-file', doc: 'a CA file (PEM) pull trusts besides the system CAs', validate: absolutePathOrNull },
  logLevel: { type: 'string', default: 'info', env: 'VXNET_LOG_LEVEL', flag: 'log-level', doc: 'log level', validate: logLevel },
  logFile: { type: 'string|null', default: null, env: 'VXNET_LOG_FILE', flag: 'log-file', doc: 'log to this file instead of stdout', validate: absolutePathOrNull },
};
