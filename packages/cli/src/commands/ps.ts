import { formatPorts, type ContainerView } from '@vxnet/common/api';
import { engineCall, resolveEngine, type EngineFlags } from '../engine-client.js';
import { humanDuration, shortId, timeAgo } from '../format.js';
import { print, printJson, table } from '../output.js';

export interface PsFlags {
  all?: boolean;
  json?: boolean;
  quiet?: boolean;
}

/** docker's STATUS column: "Up 3 minutes", "Restarting (1) 2 seconds ago", "Exited (3) 2 minutes ago", "Created". */
export function statusText(c: Pick<ContainerView, 'status' | 'exitCode' | 'startedAt' | 'finishedAt'> & { restarting?: boolean }, now = Date.now()): string {
  if (c.status === 'running' && c.startedAt) return `Up ${humanDuration(Math.max(0, now - Date.parse(c.startedAt)) / 1000)}`;
  if (c.status === 'exited' && c.restarting) return `Restarting (${c.exitCode ?? '?'}) ${c.finishedAt ? timeAgo(c.finishedAt, now) : ''}`.trimEnd();
  if (c.status === 'exited') return `Exited (${c.exitCode ?? '?'}) ${c.finishedAt ? timeAgo(c.finishedAt, now) : ''}`.trimEnd();
  return 'Created';
}

/** The COMMAND column: quoted and cut as docker does. */
export function commandText(cmd: string[], width = 22): string {
  const text = cmd.join(' ');
  return `"${text.length > width ? `${text.slice(0, width - 1)}…` : text}"`;
}

/** `vxnet [-H HOST] ps [-a] [-q] [--json]`: running containers (all with -a), newest first. */
export async function psCommand(flags: PsFlags, conn: EngineFlags): Promise<number> {
  const { containers } = await engineCall<{ containers: ContainerView[] }>(resolveEngine(conn), 'GET', `/v1/containers${flags.all ? '?all=1' : ''}`);
  if (flags.json) printJson(containers);
  else if (flags.quiet) {
    if (containers.length > 0) print(containers.map((c) => shortId(c.id)).join('\n'));
  } else {
    const now = Date.now();
    print(table(['CONTAINER ID', 'IMAGE', 'COMMAND', 'CREATED', 'STATUS', 'PORTS', 'NETWORKS', 'NAMES'], containers.map((c) => [
      shortId(c.id), c.image, commandText(c.command), timeAgo(c.createdAt, now), statusText(c, now), formatPorts(c.publishedPorts ?? []),
      c.networks.length > 0 ? c.networks.map((n) => `${n.network}:${n.ip}`).join(',') : c.networkMode === 'overlay' ? '-' : c.networkMode, c.name,
    ])));
  }
  return 0;
}
