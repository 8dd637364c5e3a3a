/**
 * What a lab records about itself in `$VXNET_HOME/labs/<name>/lab.json`. Every
 * namespace and process is recorded *before* it is made, so `lab down` can find and
 * remove what a crashed `lab up` left behind.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeJsonAtomic, type ProcessRecord } from '@vxnet/common';
import { labsDir } from '../context.js';
import type { LabPki } from './pki.js';

export type LabPhase = 'creating' | 'up' | 'removing';

/** A daemon of the lab, started as on a real host: its binary with `--config FILE` and nothing else. */
export interface LabDaemon {
  /** The config file (`--config`). */
  config: string;
  /** The command line it was started with; `lab restart` starts it again the same way. */
  command: string[];
  /** stdout and stderr (pino JSON). */
  logFile: string;
  /** Its API socket, as reachable from the root namespace (the machine's /run/vxnet is bound there). */
  socket: string;
  /** Its state directory, as seen from the root namespace (the machine's /var/lib/vxnet/<daemon>). */
  stateDir: string;
  process?: ProcessRecord;
}

/** A simulated machine: a network namespace plus mount and UTS namespaces held by a keeper (see machine.ts). */
export interface LabMachine {
  name: string;
  netns: string;
  underlayIp: string;
  /** <lab dir>/<name>: config files, logs, the bound /run/vxnet (run/), /var/lib/vxnet (lib/) and CNI/container state (fs/). */
  dir: string;
  keeper?: ProcessRecord;
}

/**
 * A host's dockerd (`lab up --docker`, docker.ts): started as on a real host, with
 * `--config-file FILE` and nothing else, inside the host's machine.
 */
export interface LabDockerd {
  /** Its daemon.json (`--config-file`): every setting, paths under the host's directory. */
  config: string;
  /** The command line it was started with; `lab restart HOST docker` starts it again the same way. */
  command: string[];
  /** stdout and stderr (dockerd's and its managed containerd's logs). */
  logFile: string;
  /** Its API socket inside the machine: /run/docker.sock, as on a real host (the agent reads its events there). */
  socket: string;
  /** --data-root: images, containers, volumes, the managed containerd's root. */
  dataRoot: string;
  /** --exec-root: runtime state, the managed containerd's socket, the sandboxes' namespaces. */
  execRoot: string;
  /** Where /sys/fs/cgroup is held while a fresh sysfs is mounted on /sys (an empty directory). */
  cgroupBind: string;
  /** --cgroup-parent: every container of this dockerd is under it (swept and removed by `lab down`). */
  cgroupParent: string;
  process?: ProcessRecord;
}

/**
 * A host's podman (`lab up --podman`, podman.ts): no daemon, only its configuration
 * and the host's cgroup tree, which the machine sees as its whole cgroup hierarchy.
 */
export interface LabPodman {
  /** The host's cgroup tree in every hierarchy (root view): podman's cgroups are below it; `lab down` removes it. */
  cgroupRoot: string;
  /** Bound on /etc/containers in the machine: a copy of the root's plus containersConf. */
  containersDir: string;
  /** The host's containers.conf (its settings: podman.ts containersConf). */
  containersConf: string;
  /** The image imported at `lab up`. */
  image: string;
}

export interface LabHost extends LabMachine {
  agent: LabDaemon;
  engine: LabDaemon;
  /** Present in labs made with `--docker`. */
  docker?: LabDockerd;
  /** Present in labs made with `--podman`. */
  podman?: LabPodman;
}

/** The lab's outside (outside.ts): a router on the underlay and a host beyond it, with no route to any overlay. */
export interface LabOutside {
  /** The router's namespace: eth0 on the underlay switch (port p-rt), eth1 on the outside network. */
  routerNetns: string;
  /** The router's underlay address: every machine's default gateway. */
  routerUnderlayIp: string;
  /** The outside network: a TEST-NET that is not the underlay. */
  network: string;
  /** The router's address on the outside network. */
  routerIp: string;
  /** The outside host's namespace. */
  netns: string;
  /** The outside host's address, where the responder answers. */
  ip: string;
  /** The responder's stdout and stderr. */
  logFile: string;
  /** The responder's command line; `lab restart outside` starts it again the same way. */
  command: string[];
  process?: ProcessRecord;
}

/** The store a lab runs: etcd (the default) or Redis. */
export type LabStoreKind = 'etcd' | 'redis';
export const LAB_STORE_KINDS: readonly LabStoreKind[] = ['etcd', 'redis'];

export interface LabState {
  name: string;
  phase: LabPhase;
  createdAt: string;
  underlay: string;
  /** Upstream DNS servers of the agents (IP[:port],...), if any. */
  dnsUpstream?: string;
  /** MTU of the underlay links. */
  mtu: number;
  /** Namespace name prefix; every namespace of the lab starts with it. */
  netnsPrefix: string;
  /** Switch namespace holding the underlay bridge. */
  switchNetns: string;
  /** Every namespace made (or about to be made) for this lab. */
  namespaces: string[];
  hosts: LabHost[];
  store: {
    kind: LabStoreKind;
    netns: string;
    underlayIp: string;
    /** The store URL the daemons are given (their `store` setting). */
    url: string;
    /** Where it answers: etcd client URLs (for etcdctl), or the Redis URL. */
    endpoints: string[];
    /** Redis: the file holding its password (mode 0600), given to the daemons as storePasswordFile. */
    passwordFile?: string;
    dataDir: string;
    logFile: string;
    process?: ProcessRecord;
    /**
     * An etcd cluster (`lab up --store-members 3`): every member, member 1 first (its
     * netns, address, data and log are the store's own above, and `process` mirrors
     * its process). Absent for a single etcd or Redis.
     */
    members?: LabStoreMember[];
  };
  controller: LabMachine & LabDaemon & {
    /** Where the CLI reaches it from the root namespace: unix:///…/ctl/run/controller.sock */
    url: string;
    /** Where hosts reach it: https://IP:7070 (a client certificate of the lab's CA and the bearer token required) */
    tcpUrl: string;
    /** The bearer token the controller generated at its first start (mode 0600). */
    tokenFile: string;
    /**
     * The topology page: https://IP:7071/ui/ (server certificate of the lab's CA, no client
     * certificate, sign-in with the token). Absent in labs made before the page.
     */
    uiUrl?: string;
  };
  /** Absent in labs made before the outside existed. */
  outside?: LabOutside;
  /** The lab's CA and certificates (pki.ts); absent in labs made before TLS. */
  pki?: LabPki;
  /** `lab up --controllers 2`: the controllers after the first (ctl2, …), each in a machine of its own. */
  moreControllers?: LabController[];
}

/** A controller of the lab: its machine, daemon and where it answers. */
export type LabController = LabState['controller'];

/** One member of a lab's etcd cluster, in a namespace of its own on the underlay. */
export interface LabStoreMember {
  /** etcd member name: vxnet-<lab>-<n>. */
  name: string;
  /** 1-based, as `lab kill store --member N` names it. */
  index: number;
  netns: string;
  underlayIp: string;
  /** Its client URL, https://IP:2379. */
  clientUrl: string;
  /** Its peer URL, https://IP:2380 (peers authenticate with the lab's certificates). */
  peerUrl: string;
  dataDir: string;
  logFile: string;
  process?: ProcessRecord;
}

export function labDir(name: string): string {
  return join(labsDir(), name);
}

export function stateFile(name: string): string {
  return join(labDir(name), 'lab.json');
}

export function readLabState(name: string): LabState | undefined {
  try {
    return JSON.parse(readFileSync(stateFile(name), 'utf8')) as LabState;
  } catch {
    return undefined;
  }
}

export function writeLabState(state: LabState): void {
  writeJsonAtomic(stateFile(state.name), state);
}
