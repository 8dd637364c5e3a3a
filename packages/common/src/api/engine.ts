/**
 * Wire types of the engine's API (unix socket, like dockerd's); the routes are listed
 * in packages/engine/src/api/server.ts.
 */
export type NetworkMode = 'overlay' | 'none' | 'host' | 'container';

/** What `run` asks for (the API body of POST /v1/containers). */
export interface RunRequest {
  name?: string;
  /** Image name (`busybox`); exclusive with rootfs. */
  image?: string;
  /** Absolute path of a directory to run as the root filesystem. */
  rootfs?: string;
  /** Command and arguments; default: `sh`, kept alive when detached. */
  cmd?: string[];
  /** Detached run: the default command then stays up until stopped. */
  detach?: boolean;
  /** K=V entries. */
  env?: string[];
  hostname?: string;
  /** Overlay network names/ids, or exactly one of `none`, `host`, `container:NAME`. Default: none. */
  networks?: string[];
  /** Extra DNS names on every overlay network. */
  aliases?: string[];
  /** Address on the first overlay network. */
  ip?: string;
}

export interface ContainerNetworkView {
  network: string;
  networkId: string;
  endpointId: string;
  ip: string;
  prefixLength: number;
  mac: string;
  gateway: string;
  ifname: string;
  aliases: string[];
  mtu: number;
}

/** A container as the API answers it. */
export interface ContainerView {
  id: string;
  name: string;
  image: string;
  command: string[];
  status: 'creating' | 'running' | 'exited';
  running: boolean;
  pid: number | null;
  exitCode: number | null;
  host: string;
  hostname: string;
  env: string[];
  networkMode: NetworkMode;
  netContainer: string | null;
  /** The network namespace the container is in (null: the host's). */
  sandbox: string | null;
  networks: ContainerNetworkView[];
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
}

export interface ExecResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

export interface LogChunk {
  /** Bytes from `offset`, base64. */
  data: string;
  /** Where the next read starts. */
  offset: number;
  running: boolean;
}

