import type { ContainerTop } from '@vxnet/common/api';
import { engineCall, resolveEngine, seg, type EngineFlags } from '../engine-client.js';
import { print, printJson, table } from '../output.js';

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** ps's STIME (local time): HH:MM within the last day, MonDD within the year, else the year. */
export function startText(iso: string, now = Date.now()): string {
  const t = new Date(iso);
  if (Number.isNaN(t.getTime())) return '?';
  const n = new Date(now);
  const two = (v: number) => String(v).padStart(2, '0');
  if (now - t.getTime() < 24 * 3600 * 1000) return `${two(t.getHours())}:${two(t.getMinutes())}`;
  if (t.getFullYear() === n.getFullYear()) return `${MONTHS[t.getMonth()]}${two(t.getDate())}`;
  return String(t.getFullYear());
}

/** ps's TIME: CPU time as [DD-]HH:MM:SS. */
export function cpuTimeText(seconds: number): string {
  const s = Math.floor(Math.max(0, seconds));
  const days = Math.floor(s / 86_400);
  const two = (v: number) => String(v).padStart(2, '0');
  const hms = `${two(Math.floor((s % 86_400) / 3600))}:${two(Math.floor((s % 3600) / 60))}:${two(s % 60)}`;
  return days > 0 ? `${days}-${hms}` : hms;
}

/** `vxnet [-H HOST] top [--json] CONTAINER`: its processes as `docker top` (ps -ef) lists them, pids as the host sees them. */
export async function topCommand(ref: string, flags: { json?: boolean }, conn: EngineFlags): Promise<number> {
  const top = await engineCall<ContainerTop>(resolveEngine(conn), 'GET', `/v1/containers/${seg(ref)}/top`);
  if (flags.json) {
    printJson(top);
    return 0;
  }
  const now = Date.now();
  print(table(['UID', 'PID', 'PPID', 'C', 'STIME', 'TTY', 'TIME', 'CMD'], top.processes.map((p) => [
    p.user, String(p.pid), String(p.ppid), String(p.c), startText(p.startedAt, now), p.tty, cpuTimeText(p.cpuSeconds), p.cmd,
  ])));
  return 0;
}
