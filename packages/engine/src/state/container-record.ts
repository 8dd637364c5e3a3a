/**
 * What the engine keeps about a container, in `<stateDir>/containers/<id>/`:
 *
 *   container.json   this record (written atomically)
 *   config.json      the OCI bundle config (the rootfs is the shared image, not copied)
 *   rootfs, upper, work   a loaded image's container: its overlayfs mount point, its
 *                    writable layer and overlayfs's work directory (container/rootfs-mount.ts)
 *   hosts, resolv.conf, hostname   bind-mounted into the container
 *   container.log    the container's stdout and stderr
 *   runc.log         runc's own JSON log (its error when a start fails)
 *   pid, exit        the init's pid (written by runc once running) and its exit status (by the shim)
 *   container.log.times   when the log grew (container/log-times.ts)
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { writeJsonAtomic, type ProcessRecord } from '@vxnet/common';
import { ContainerRecordUnreadable, ContainersDirUnreadable } from '../errors.js';

import type { NetworkMode, PortMapping, PortRequest, RestartPolicy } from '@vxnet/common/api';
import type { ProcessUser } from '../container/process-config.js';

export type { NetworkMode };
export type ContainerStatus = 'creating' | 'running' | 'exited';

export interface ContainerEndpoint {
  endpointId: string;
  network: string;
  networkId: string;
  ip: string;
  mac: string;
  gateway: string;
  prefixLength: number;
  ifname: string;
  aliases: string[];
  mtu: number;
  /** Ports this endpoint publishes, as asked (`run -p`: the first network's endpoint only); absent: none. */
  ports?: PortRequest[];
  /** The same as the agent answered them (host address resolved); absent while released. */
  published?: PortMapping[];
  /**
   * The agent's endpoint was deleted when the container stopped, to withdraw its
   * published ports (the agent cannot change a live endpoint's ports); `endpointId` is
   * the deleted one's. `start` makes it again with the same address, names and ports.
   * The endpoint reconcile treats a released endpoint the agent still has as an orphan.
   */
  released?: boolean;
}

export interface ContainerRecord {
  id: string;
  name: string;
  /** The image as given to run (`busybox`, `web:1`, an id prefix), or the directory given with --rootfs. */
  image: string;
  /**
   * The loaded image it runs (`sha256:…`), absent for busybox and --rootfs: its root is
   * then an overlayfs over the image's layers, mounted at `rootfs` (files.rootfs) by
   * run and start, unmounted by rm. The image cannot be removed while this record exists.
   */
  imageId?: string;
  rootfs: string;
  /** The process's arguments: the image's entrypoint and command merged with the request's (container/process-config.ts). */
  command: string[];
  env: string[];
  /** The process's working directory (`-w`, else the image's WorkingDir); absent in older records: /. */
  workdir?: string;
  /** The process's user (`-u`, else the image's User), resolved from the container's own /etc/passwd; absent in older records: root. */
  user?: ProcessUser;
  hostname: string;
  networkMode: NetworkMode;
  /** --net container:C: the id of C. */
  netContainer: string | null;
  /**
   * The sandbox namespace this container owns (overlay and none modes), or null.
   * Written before the namespace is made: the engine deletes only namespaces named here.
   */
  netns: string | null;
  /** The network namespace it joins; null = the engine's own (--net host). */
  netnsPath: string | null;
  endpoints: ContainerEndpoint[];
  status: ContainerStatus;
  /** Runs on a terminal that the engine holds (exec/container-console.ts); absent in records older than `run -t`. */
  tty?: boolean;
  /** The shim (sh waiting on foreground `runc run`; none with a TTY) and the container's init, while running. */
  shim: ProcessRecord | null;
  init: ProcessRecord | null;
  exitCode: number | null;
  /** `--restart`; absent: no. */
  restartPolicy?: RestartPolicy;
  /** Restarts by the policy since the last run or start (lifecycle/restart-decision.ts), and the last back-off, ms. */
  restartCount?: number;
  restartBackoffMs?: number;
  /** Ended by `stop`: the policy does not restart it until the next start. */
  manuallyStopped?: boolean;
  /** `run --rm`: removed when it exits. */
  autoRemove?: boolean;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
}

export interface ContainerFiles {
  dir: string;
  record: string;
  bundle: string;
  config: string;
  hosts: string;
  resolvConf: string;
  hostname: string;
  log: string;
  runcLog: string;
  pid: string;
  exit: string;
  logTimes: string;
  rootfs: string;
  upper: string;
  work: string;
}

export function containersDir(stateDir: string): string {
  return join(stateDir, 'containers');
}

export function containerFiles(stateDir: string, id: string): ContainerFiles {
  const dir = join(containersDir(stateDir), id);
  return {
    dir,
    record: join(dir, 'container.json'),
    bundle: dir,
    config: join(dir, 'config.json'),
    hosts: join(dir, 'hosts'),
    resolvConf: join(dir, 'resolv.conf'),
    hostname: join(dir, 'hostname'),
    log: join(dir, 'container.log'),
    runcLog: join(dir, 'runc.log'),
    pid: join(dir, 'pid'),
    exit: join(dir, 'exit'),
    logTimes: join(dir, 'container.log.times'),
    rootfs: join(dir, 'rootfs'),
    upper: join(dir, 'upper'),
    work: join(dir, 'work'),
  };
}

export function writeRecord(stateDir: string, rec: ContainerRecord): void {
  writeJsonAtomic(containerFiles(stateDir, rec.id).record, rec);
}

/** What a start finds in the containers directory. */
export interface LoadedRecords {
  records: ContainerRecord[];
  /**
   * Directories of runs that stopped before their first record was written: empty,
   * or holding only that record's temporary file. Nothing else was made for them (the
   * record is written before the sandbox), so they can go.
   */
  unfinished: string[];
}

/**
 * Every container's record. Throws, and so stops the engine, rather than returning
 * less than what is on disk: a record that exists but cannot be read or parsed, a
 * directory whose record is gone but other files remain, or a containers directory
 * that cannot be listed (absent is empty). Acting on a partial list would purge
 * containers that are still running.
 */
export function readRecords(stateDir: string): LoadedRecords {
  const dir = containersDir(stateDir);
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { records: [], unfinished: [] };
    throw new ContainersDirUnreadable(dir, (err as Error).message, err);
  }
  const loaded: LoadedRecords = { records: [], unfinished: [] };
  for (const id of names.filter((n) => /^[0-9a-f]{64}$/.test(n)).sort()) {
    const files = containerFiles(stateDir, id);
    const unreadable = (why: string, err?: unknown) => new ContainerRecordUnreadable(files.record, why, files.dir, dir, err);
    let text: string;
    try {
      text = readFileSync(files.record, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw unreadable((err as Error).message, err);
      let rest: string[];
      try {
        rest = readdirSync(files.dir).filter((f) => !/^container\.json\.\d+\.tmp$/.test(f));
      } catch (e) {
        throw unreadable((e as Error).message, e);
      }
      if (rest.length > 0) throw unreadable(`it is missing, but ${rest.join(', ')} remain`);
      loaded.unfinished.push(files.dir);
      continue;
    }
    let record: unknown;
    try {
      record = JSON.parse(text);
    } catch (err) {
      throw unreadable(`not JSON (${(err as Error).message})`, err);
    }
    const problem = recordProblem(record, id);
    if (problem) throw unreadable(problem);
    loaded.records.push(record as ContainerRecord);
  }
  return loaded;
}

/** Enough of a record's shape to act on it safely (the fields rollback and purge read). */
function recordProblem(r: unknown, id: string): string | undefined {
  if (typeof r !== 'object' || r === null || Array.isArray(r)) return 'not a container record';
  const rec = r as Partial<Record<keyof ContainerRecord, unknown>>;
  if (rec.id !== id) return `its id ${JSON.stringify(rec.id)} is not the directory's`;
  if (typeof rec.name !== 'string') return 'it has no name';
  if (rec.status !== 'creating' && rec.status !== 'running' && rec.status !== 'exited') return `unknown status ${JSON.stringify(rec.status)}`;
  if (rec.netns !== null && typeof rec.netns !== 'string') return 'its sandbox (netns) is not a name';
  if (!Array.isArray(rec.endpoints) || !rec.endpoints.every((e) => typeof (e as ContainerEndpoint | null)?.endpointId === 'string')) return 'its endpoints are not a list of endpoints';
  return undefined;
}
