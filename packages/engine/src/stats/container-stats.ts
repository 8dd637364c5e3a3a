/**
 * One sample of a running container's resource use (`vxnet stats`): CPU time, memory
 * and pids from its cgroup (cgroup.ts), host CPU time from /proc/stat, and interface
 * counters of its network namespace from /proc/INIT/net/dev: a process's net/dev shows
 * the namespace the process is in, so no setns and no sysfs mount of that namespace
 * is needed. The container's own interfaces are what its endpoints made (eth0, eth1…);
 * loopback is left out, as docker leaves it out.
 */
import { readFileSync } from 'node:fs';
import type { ContainerStats } from '@vxnet/common/api';
import { parseCgroupMounts, parseProcCgroup, readCgroupUsage } from './cgroup.js';
import { CLOCK_TICKS, parseMemTotal, parseNetDev, parseSystemStat } from './proc-files.js';
import { HOST_PROC, type ProcSource } from './proc-source.js';

export type StatsSample = Omit<ContainerStats, 'id' | 'name' | 'running'>;

/**
 * Sample the container whose init is `pid`. `ownNetwork` false (--net host): no
 * interfaces are reported, the host's are not the container's. Throws (ENOENT…) when
 * the process or its cgroup is gone meanwhile.
 */
export function sampleStats(pid: number, ownNetwork: boolean, src: ProcSource = HOST_PROC): StatsSample {
  const read = (file: string) => readFileSync(`${src.proc}/${file}`, 'utf8');
  const usage = readCgroupUsage(parseProcCgroup(read(`${pid}/cgroup`)), parseCgroupMounts(read('self/mountinfo')));
  const system = parseSystemStat(read('stat'));
  const memTotal = parseMemTotal(read('meminfo'));
  const networks: ContainerStats['networks'] = {};
  if (ownNetwork) {
    for (const [name, counters] of Object.entries(parseNetDev(read(`${pid}/net/dev`)))) if (name !== 'lo') networks[name] = counters;
  }
  return {
    read: new Date().toISOString(),
    cpu: { usageNs: usage.cpuNs, systemNs: (system.cpuTicks * 1e9) / CLOCK_TICKS, onlineCpus: system.onlineCpus },
    // no limit of its own: the host's memory is its limit, as docker reports it
    memory: { usage: usage.memoryBytes, limit: usage.memoryLimit === undefined ? memTotal : Math.min(usage.memoryLimit, memTotal) },
    pids: usage.pids,
    networks,
  };
}
