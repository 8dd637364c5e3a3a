import { formatPorts, type ContainerView } from '@vxnet/common/api';
import { engineCall, resolveEngine, seg, type EngineFlags } from '../engine-client.js';
import { timeWithAgo } from '../format.js';
import { fields, print, printJson, table } from '../output.js';

/** Published ports as the agent holds them; while stopped, what start publishes again. */
export function portsText(c: Pick<ContainerView, 'ports' | 'publishedPorts' | 'status'>): string {
  const asked = c.ports ?? [];
  if (asked.length === 0) return '-';
  const published = c.publishedPorts ?? [];
  if (published.length > 0) return formatPorts(published);
  return `${formatPorts(asked)} (not published: the container is ${c.status === 'running' ? 'running, but the agent holds none' : 'not running'})`;
}

/** `vxnet [-H HOST] inspect [--json] CONTAINER`: state, pid, host, sandbox, and each network with IP, MAC and gateway. */
export async function inspectCommand(ref: string, flags: { json?: boolean }, conn: EngineFlags): Promise<number> {
  const c = await engineCall<ContainerView>(resolveEngine(conn), 'GET', `/v1/containers/${seg(ref)}`);
  if (flags.json) {
    printJson(c);
    return 0;
  }
  const state = c.status === 'running' ? `running (pid ${c.pid ?? '?'})` : c.status === 'exited' ? `${c.restarting ? 'restarting, exited' : 'exited'} (${c.exitCode ?? 'unknown'})` : c.status;
  const out = [fields([
    ['ID', c.id],
    ['Name', c.name],
    ['Image', c.image],
    ['Command', c.command.join(' ')],
    ['State', state],
    ['Restart policy', `${c.restartPolicy ?? 'no'}${c.restartCount ? ` (${c.restartCount} restarts)` : ''}${c.autoRemove ? ', removed on exit (--rm)' : ''}`],
    ['Working dir', c.workdir ?? '/'],
    ['User', c.user || 'root'],
    ['Host', c.host],
    ['Hostname', c.hostname],
    ['Network mode', c.networkMode === 'container' ? `container:${c.netContainer ?? '?'}` : c.networkMode],
    ['Sandbox', c.sandbox ?? '(the host\'s network namespace)'],
    ['Ports', portsText(c)],
    ['Created', timeWithAgo(c.createdAt)],
    ['Started', c.startedAt ? timeWithAgo(c.startedAt) : '-'],
    ...(c.finishedAt ? [['Finished', timeWithAgo(c.finishedAt)] as [string, string]] : []),
  ])];
  if (c.networks.length > 0) {
    out.push('');
    out.push(table(['NETWORK', 'IFNAME', 'IP', 'MAC', 'GATEWAY', 'MTU', 'ALIASES'], c.networks.map((n) => [
      n.network, n.ifname, `${n.ip}/${n.prefixLength}`, n.mac, n.gateway, String(n.mtu), n.aliases.join(',') || '-',
    ])));
  }
  print(out.join('\n'));
  return 0;
}
