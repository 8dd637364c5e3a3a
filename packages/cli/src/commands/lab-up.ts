import { InvalidArgument, type Logger } from '@vxnet/common';
import { DEFAULT_HOSTS, DEFAULT_UNDERLAY, labUp } from '../lab/lab.js';
import type { LabStoreKind } from '../lab/lab-state.js';
import { printJson } from '../output.js';
import { printStatus } from './lab-status.js';
import { labStatus } from '../lab/lab.js';

export interface LabUpFlags {
  name?: string;
  hosts?: string;
  underlay?: string;
  dnsUpstream?: string;
  store?: string;
  docker?: boolean;
  podman?: boolean;
  storeMembers?: string;
  controllers?: string;
  json?: boolean;
}

/** `vxnet lab up [--name L] [--hosts N] [--underlay CIDR] [--store etcd|redis] [--store-members 1|3|5] [--controllers N] [--docker] [--podman] [--json]` */
export async function labUpCommand(flags: LabUpFlags, log: Logger): Promise<number> {
  const hostsText = flags.hosts ?? String(DEFAULT_HOSTS);
  if (!/^[0-9]+$/.test(hostsText)) throw new InvalidArgument(`invalid --hosts "${hostsText}": expected a whole number of hosts, at least 1`);
  const count = (flag: string, text: string | undefined): number | undefined => {
    if (text === undefined) return undefined;
    if (!/^[0-9]+$/.test(text)) throw new InvalidArgument(`invalid ${flag} "${text}": expected a whole number`);
    return Number(text);
  };
  const storeMembers = count('--store-members', flags.storeMembers);
  const controllers = count('--controllers', flags.controllers);
  const started = Date.now();
  const state = await labUp({
    name: flags.name ?? 'lab', hosts: Number(hostsText), underlay: flags.underlay ?? DEFAULT_UNDERLAY, ...(flags.dnsUpstream ? { dnsUpstream: flags.dnsUpstream } : {}),
    ...(flags.store ? { store: flags.store as LabStoreKind } : {}),
    ...(flags.docker ? { docker: true } : {}),
    ...(flags.podman ? { podman: true } : {}),
    ...(storeMembers !== undefined ? { storeMembers } : {}),
    ...(controllers !== undefined ? { controllers } : {}),
  }, log);
  const status = await labStatus(state.name);
  if (flags.json) {
    printJson(status);
    return 0;
  }
  process.stdout.write(`lab "${state.name}" is up (${Date.now() - started} ms) and is now the current lab\n\n`);
  printStatus(status);
  const docker = state.hosts[0]?.docker ? `\n         vxnet lab docker h1 -- run --rm --pull never vxnet-busybox hostname   (docker on h1)` : '';
  const podman = state.hosts[0]?.podman ? `\n         vxnet lab podman h1 -- run --rm --network none vxnet-busybox hostname   (podman on h1)` : '';
  const outside = state.outside ? `\n         vxnet lab exec h1 -- wget -qO- http://${state.outside.ip}/ip   (the outside answers with the address it sees)` : '';
  process.stdout.write(`\ntry:     vxnet lab exec h1 -- ping -c1 ${state.hosts.at(-1)?.underlayIp}${outside}${docker}${podman}\nremove:  vxnet lab down --name ${state.name}\n`);
  return 0;
}
