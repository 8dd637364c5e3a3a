/**
 * What the engine keeps about a container, in `<stateDir>/containers/<id>/`:
 *
 *   container.json   this record (written atomically)
 *   config.json      the OCI bundle config (the rootfs is the shared image, not copied)
 *   hosts, resolv.conf, hostname   bind-mounted into the container
 *   container.log    the container's stdout and stderr
 *   runc.log         runc's own JSON log (its error when a start fails)
 *   pid, exit        the init's pid (written by runc once running) and its exit status (by the shim)
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { writeJsonAtomic, type ProcessRecord } from '@vxnet/common';

import type { NetworkMode } from '@vxnet/common/api';

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
}

export interface ContainerRecord {
  id: string;
  name: string;
  /** `busybox`, or the directory given with --rootfs. */
  image: string;
  rootfs: string;
  command: string[];
  env: string[];
  hostname: string;
  networkMode: NetworkMode;
  /** --net container:C: the id of C. */
  netContainer: string | null;
  /** The sandbox namespace this container owns (overlay and none modes), or null. */
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
  };
}

export function writeRecord(stateDir: string, rec: ContainerRecord): void {
  writeJsonAtomic(containerFiles(stateDir, rec.id).record, rec);
}

/** Every container directory: its id and record (undefined when the record is missing or unreadable). */
export function readRecords(stateDir: string): Array<{ id: string; record: ContainerRecord | undefined }> {
  let ids: string[];
  try {
    ids = readdirSync(containersDir(stateDir)).filter((n) => /^[0-9a-f]{64}$/.test(n));
  } catch {
    return [];
  }
  return ids.map((id) => {
    try {
      return { id, record: JSON.parse(readFileSync(containerFiles(stateDir, id).record, 'utf8')) as ContainerRecord };
    } catch {
      return { id, record: undefined };
    }
  });
}
