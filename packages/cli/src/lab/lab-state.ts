/**
 * What a lab records about itself in `$VXNET_HOME/labs/<name>/lab.json`. Every
 * namespace and process is recorded *before* it is made, so `lab down` can find and
 * remove what a crashed `lab up` left behind.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeJsonAtomic, type ProcessRecord } from '@vxnet/common';
import { labsDir } from '../context.js';

export type LabPhase = 'creating' | 'up' | 'removing';

export interface LabHost {
  name: string;
  netns: string;
  underlayIp: string;
  agent: {
    /** The agent's local API. */
    socket: string;
    stateDir: string;
    logFile: string;
    /** Prefix of the namespaces the agent makes for its networks. */
    netnsPrefix: string;
    process?: ProcessRecord;
  };
  /** The host's container engine (absent in labs made before engines existed). */
  engine?: {
    /** The engine's API (what `vxnet -H <host>` talks to). */
    socket: string;
    stateDir: string;
    logFile: string;
    /** Prefix of the sandbox namespaces the engine makes for containers. */
    netnsPrefix: string;
    process?: ProcessRecord;
  };
}

export interface LabState {
  name: string;
  phase: LabPhase;
  createdAt: string;
  underlay: string;
  /** Upstream DNS servers of the agents (IP[:port],...), if any. */
  dnsUpstream?: string;
  /** Root filesystems of the images, shared by the lab's engines. */
  imagesDir?: string;
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
    kind: 'etcd';
    netns: string;
    underlayIp: string;
    endpoints: string[];
    dataDir: string;
    logFile: string;
    process?: ProcessRecord;
  };
  controller: {
    netns: string;
    underlayIp: string;
    /** Where the CLI reaches it from the root namespace: unix:///…/controller.sock */
    url: string;
    /** Where agents on the lab hosts reach it: http://IP:7070 */
    tcpUrl: string;
    /** Absolute path of the token file its TCP listener wants (sent by the CLI to tcpUrl). Absent in labs made before tokens. */
    tokenFile?: string;
    logFile: string;
    process?: ProcessRecord;
  };
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
