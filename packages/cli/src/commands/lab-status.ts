import { resolveLab } from '../context.js';
import { labStatus, type LabStatus } from '../lab/lab.js';
import { LAB_DOCKER_IMAGE } from '../lab/docker-image.js';
import { printJson, table } from '../output.js';

/** `vxnet lab status [--name L] [--json]`: exit 0 when the lab is healthy, 1 when degraded. */
export async function labStatusCommand(flags: { name?: string; json?: boolean }): Promise<number> {
  const status = await labStatus(resolveLab(flags.name));
  if (flags.json) printJson(status);
  else printStatus(status);
  return status.health === 'running' ? 0 : 1;
}

function outsideState(o: NonNullable<LabStatus['outside']>): string {
  if (!o.running) return 'stopped';
  return o.missingSockets.length > 0 ? `running, not on ${o.missingSockets.join(',')}` : 'running';
}

export function printStatus(s: LabStatus): void {
  const out: string[] = [];
  out.push(`lab ${s.name}: ${s.health}   underlay ${s.underlay}, mtu ${s.mtu}`);
  out.push('');
  out.push(table(['HOST', 'UNDERLAY IP', 'NETNS', 'STATE', 'AGENT PID', 'AGENT', 'ENGINE PID', 'ENGINE'], s.hosts.map((h) => [
    h.name, h.underlayIp, h.netns, h.present ? 'up' : 'missing', String(h.pids.agent ?? '-'), h.agentRunning ? 'running' : 'stopped',
    String(h.pids.engine ?? '-'), h.engineSocket === null ? '-' : h.engineRunning ? 'running' : 'stopped',
  ])));
  out.push('');
  out.push(table(['SERVICE', 'ENDPOINT', 'PID', 'STATE'], [
    ...(s.store.members
      ? s.store.members.map((m) => [`etcd ${m.index}`, m.endpoint, String(m.pid ?? '-'), `${m.health}${m.leader ? ', leader' : ''}`])
      : [[s.store.kind, s.store.url, String(s.store.pid ?? '-'), s.store.running ? 'running' : 'stopped']]),
    ...s.controllers.map((c) => [c.name === 'ctl' ? 'controller' : `controller ${c.name}`, `${c.tcpUrl} ${c.url}`, String(c.pid ?? '-'), c.running ? 'running' : 'stopped']),
    ...(s.outside
      ? [['outside', `${s.outside.ip} tcp+udp/7 echo, tcp/9 discard, http :80`, String(s.outside.pid ?? '-'), outsideState(s.outside)]]
      : []),
  ]));
  if (s.store.members) {
    out.push('');
    out.push(`store: ${s.store.url} (${s.store.members.length} members; leader: ${s.store.leader ? `member ${s.store.leader}` : 'none'})`);
  }
  if (s.outside) {
    out.push('');
    out.push(`outside: ${s.outside.ip} in ${s.outside.network} (namespace ${s.outside.netns}), behind router ${s.outside.routerNetns}`
      + ` at ${s.outside.routerUnderlayIp} (every machine's default gateway) and ${s.outside.routerIp}; no route to any overlay`);
  }
  if (s.hosts.some((h) => h.docker)) {
    out.push('');
    out.push(table(['HOST', 'DOCKERD PID', 'DOCKERD', 'SOCKET'], s.hosts.map((h) => [
      h.name, String(h.docker?.pid ?? '-'), h.docker ? (h.docker.running ? 'running' : 'stopped') : '-', h.docker?.socket ?? '-',
    ])));
    out.push(`docker: \`vxnet lab docker HOST -- ARGS\` runs the docker CLI against a host's dockerd (image ${LAB_DOCKER_IMAGE}, run it with --pull never)`);
  }
  if (s.hosts.some((h) => h.podman)) {
    out.push('');
    out.push(table(['HOST', 'PODMAN CGROUP', 'CONTAINERS.CONF'], s.hosts.map((h) => [h.name, h.podman?.cgroupRoot ?? '-', h.podman?.containersConf ?? '-'])));
    out.push(`podman: \`vxnet lab podman HOST -- ARGS\` runs podman in a host's machine (image ${s.hosts.find((h) => h.podman)?.podman?.image ?? ''})`);
  }
  for (const p of s.problems) out.push(`problem: ${p}`);
  process.stdout.write(`${out.join('\n')}\n`);
}
