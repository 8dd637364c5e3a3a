import { InvalidArgument } from '@vxnet/common';
import { resolveEngine, type EngineFlags } from '../engine-client.js';
import { followLogs } from './run.js';

export interface LogsFlags {
  follow?: boolean;
  timestamps?: boolean;
  since?: string;
}

/**
 * `--since` as docker takes it: an RFC 3339 time (2026-11-29T14:00:00Z, or a date),
 * Unix seconds (1764424800, with a fraction too), or a duration back from now (42s,
 * 10m, 2h, 1h30m). Returns Unix ms. Throws InvalidArgument.
 */
export function parseSince(text: string, now = Date.now()): number {
  if (/^[0-9]+(\.[0-9]+)?$/.test(text)) return Math.round(Number(text) * 1000);
  const d = /^(?:([0-9]+)h)?(?:([0-9]+)m)?(?:([0-9]+(?:\.[0-9]+)?)s)?$/.exec(text);
  if (d && text !== '') return now - Math.round(((Number(d[1] ?? 0) * 60 + Number(d[2] ?? 0)) * 60 + Number(d[3] ?? 0)) * 1000);
  const t = /^\d{4}-\d{2}-\d{2}/.test(text) ? Date.parse(text) : NaN;
  if (Number.isNaN(t)) throw new InvalidArgument(`invalid --since "${text}": expected a time (2026-11-29T14:00:00Z), Unix seconds, or a duration back from now (42s, 10m, 1h30m)`);
  return t;
}

/**
 * `vxnet [-H HOST] logs [-f] [-t] [--since WHEN] CONTAINER`: the container's output
 * (stdout and stderr, in order); -f follows until it stops (across restarts by its
 * policy); -t prefixes each line with when it was written; --since shows only lines
 * written since then.
 */
export async function logsCommand(container: string, flags: LogsFlags, conn: EngineFlags): Promise<number> {
  const sinceMs = flags.since !== undefined ? parseSince(flags.since) : undefined;
  await followLogs(resolveEngine(conn), container, 0, Boolean(flags.follow), { timestamps: Boolean(flags.timestamps), ...(sinceMs !== undefined ? { sinceMs } : {}) });
  return 0;
}
