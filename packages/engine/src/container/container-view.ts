/** What the API answers about a container (ContainerView), from its record. */
import type { ContainerView } from '@vxnet/common/api';
import type { ContainerRecord } from '../state/container-record.js';

export function containerView(rec: ContainerRecord, host: string): ContainerView {
  const running = rec.status === 'running';
  return {
    id: rec.id, name: rec.name, image: rec.image, command: rec.command, status: rec.status, running,
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
