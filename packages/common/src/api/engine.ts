/**
 * Wire types of the engine's API (unix socket, like dockerd's); the routes are listed
 * in packages/engine/src/api/server.ts.
 */
import type { PortMapping, PortRequest } from './agent.js';
import type { RestartPolicy } from './restart-policy.js';

export type NetworkMode = 'overlay' | 'none' | 'host' | 'container';

/** What `run` asks for (the API body of POST /v1/containers). */
export interface RunRequest {
  name?: string;
  /** Image name (`busybox`); exclusive with rootfs. */
  image?: string;
  /** Absolute path of a directory to run as the root filesystem. */
  rootfs?: string;
  /** Command and arguments; default: the image's (busybox: `sh`, kept alive when detached). */
  cmd?: string[];
  /** Replaces the image's entrypoint (`--entrypoint`; [] clears it); the image's command is then dropped unless cmd is given. */
  entrypoint?: string[];
  /** Working directory of the process, absolute (`-w`); default: the image's, else /. */
  workdir?: string;
  /** User of the process: USER[:GROUP] or UID[:GID] (`-u`), names from the image's /etc/passwd and /etc/group; default: root. */
  user?: string;
  /** What the engine does when the container exits (`--restart`, restart-policy.ts); default: no. */
  restart?: RestartPolicy;
  /** Remove the container when it exits (`run --rm`); not with a restart policy. */
  autoRemove?: boolean;
  /** Detached run: the default command then stays up until stopped. */
  detach?: boolean;
  /**
   * Run on a pseudo-terminal that the engine holds; attach to it with
   * `POST /v1/containers/:ref/attach` (`vxnet run -it`). Its output is logged as well.
   */
  tty?: boolean;
  /** K=V entries. */
  env?: string[];
  hostname?: string;
  /** Overlay network names/ids, or exactly one of `none`, `host`, `container:NAME`. Default: none. */
  networks?: string[];
  /** Extra DNS names on every overlay network. */
  aliases?: string[];
  /** Address on the first overlay network. */
  ip?: string;
  /**
   * Ports to publish on this host (`-p`, ports.ts), on the endpoint of the first overlay
   * network while the container runs. The agent refuses them on an internal network, on
   * an address that is not the host's, and on a port in use there.
   */
  ports?: PortRequest[];
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
  /** Ports this endpoint publishes, as asked; empty for all but the first network's. */
  ports: PortRequest[];
}

/** A container as the API answers it. */
export interface ContainerView {
  id: string;
  name: string;
  image: string;
  command: string[];
  status: 'creating' | 'running' | 'exited';
  running: boolean;
  /** Exited, and its restart policy runs it again after a back-off (docker's "Restarting"). */
  restarting: boolean;
  /** `--restart` as typed (`no`, `on-failure:2`, `always`, `unless-stopped`). */
  restartPolicy: string;
  /** Restarts by the policy since the last run or start. */
  restartCount: number;
  autoRemove: boolean;
  workdir: string;
  /** `-u` as given; empty: root. */
  user: string;
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
  /** Every port asked for with `-p`, published or not. */
  ports: PortRequest[];
  /**
   * The ports published now, as the agent holds them (host address resolved); empty
   * while the container is not running: stopping withdraws them, start publishes them again.
   */
  publishedPorts: PortMapping[];
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
}

/**
 * `exec`: the JSON body of `POST /v1/containers/:ref/exec`, sent as an HTTP upgrade
 * (`Connection: Upgrade`, `Upgrade: tcp`, `Content-Length`, like docker's attach).
 *
 * The engine checks the request and the container first: a bad one gets an ordinary
 * JSON error answer ({code, message}, its HTTP status) and no upgrade. Otherwise it
 * answers `101 Switching Protocols` and the connection becomes a bidirectional stream
 * of frames (exec-stream.ts encodes and decodes them):
 *
 *     +--------+--------+--------+--------+--------+=========+
 *     |  type  |   payload length, uint32 big-endian | payload |
 *     +--------+--------+--------+--------+--------+=========+
 *
 *   type  name       from    payload
 *   0     stdin      client  bytes for the process's stdin (ignored without `stdin`)
 *   1     stdout     engine  bytes the process wrote to stdout (with a TTY: everything it wrote)
 *   2     stderr     engine  bytes the process wrote to stderr (never with a TTY: the terminal merges them)
 *   3     exit       engine  JSON {exitCode}; the last frame, then the engine closes the connection
 *   4     stdin-eof  client  empty: close the process's stdin
 *   5     resize     client  uint16 rows, uint16 cols, big-endian (TTY only; ignored otherwise)
 *   6     signal     client  a signal name in ASCII ("INT", "TERM", "KILL"): sent to the
 *                            process's process group, as a terminal sends Ctrl-C
 *   7     detached   engine  empty, attach only: the client typed the detach keys; the engine
 *                            then closes the connection and the container goes on
 *
 * The exec belongs to its connection: when the client goes away before the exit frame,
 * the engine kills the process's process group (SIGKILL). Payloads are at most 1 MiB.
 */
export interface ExecRequest {
  /** Command and arguments (never interpreted by a shell). */
  cmd: string[];
  /** K=V entries added to the container's environment. */
  env?: string[];
  /** Forward the client's stdin (stdin frames); otherwise the process reads /dev/null. */
  stdin?: boolean;
  /** Run the process on a pseudo-terminal: one output stream, Ctrl-C and job control work, window size. */
  tty?: boolean;
  /** Initial terminal size in characters (TTY only). */
  rows?: number;
  cols?: number;
}

/**
 * `attach` to a container run with a TTY: the JSON body of `POST
 * /v1/containers/:ref/attach`, an HTTP upgrade to the same frame stream as exec's. The
 * engine first sends the container's recent output (up to 64 KiB: the prompt that
 * came before the client), then output as it comes; stdin (with `stdin`), resize and
 * signal frames go to the container's terminal; the exit frame comes when the
 * container ends, or a `detached` frame when the client typed the detach keys. A client that leaves leaves the container running.
 */
export interface AttachRequest {
  stdin?: boolean;
  /** The detach sequence (detach-keys.ts; default ctrl-p,ctrl-q): typed, the engine sends a `detached` frame and closes; the container goes on. */
  detachKeys?: string;
  /** The client's terminal size, applied at once. */
  rows?: number;
  cols?: number;
}

/** The `exit` frame's payload. */
export interface ExecExit {
  /** The process's exit code, 128+N when killed by signal N; 255 when it could not be started or its end was not seen. */
  exitCode: number;
}

export interface LogChunk {
  /** Bytes from `offset`, base64. */
  data: string;
  /** Where the next read starts. */
  offset: number;
  running: boolean;
}

