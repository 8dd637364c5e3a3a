/** What the API answers about a container (ContainerView), from its record. */
import { NO_RESTART, formatRestartPolicy, type ContainerView } from '@vxnet/common/api';
import type { ContainerRecord } from '../state/container-record.js';

/** `restarting`: a restart by its policy is pending (the engine's timers know, the record does not). */
export function containerView(rec: ContainerRecord, host: string, restarting = false): ContainerView {
  const running = rec.status === 'running';
  return {
    id: rec.id, name: rec.name, image: rec.image, command: rec.command, status: rec.status, running,
    restarting: restarting && !running, restartPolicy: formatRestartPolicy(rec.restartPolicy ?? NO_RESTART), restartCount: rec.restartCount ?? 0,
    autoRemove: rec.autoRemove === true, workdir: rec.workdir ?? '/', user: rec.user?.spec ?? '',
    pid: running ? rec.init?.pid ?? null : null, exitCode: rec.exitCode, host, hostname: rec.hostname, env: rec.env,
    networkMode: rec.networkMode, netContainer: rec.netContainer, sandbox: rec.netnsPath,
    networks: rec.endpoints.map((e) => ({
      network: e.network, networkId: e.networkId, endpointId: e.endpointId, ip: e.ip, prefixLength: e.prefixLength, mac: e.mac,
      gateway: e.gateway, ifname: e.ifname, aliases: e.aliases, mtu: e.mtu, ports: e.ports ?? [],
    })),
    ports: rec.endpoints.flatMap((e) => e.ports ?? []),
    publishedPorts: running ? rec.endpoints.flatMap((e) => (e.released ? [] : e.published ?? [])) : [],
    createdAt: rec.createdAt, startedAt: rec.startedAt, finishedAt: rec.finishedAt,
  };
}
