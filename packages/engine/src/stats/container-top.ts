/**
 * The processes of a running container (`vxnet top`, like `docker top`): every pid in
 * the cgroup of its init (cgroup.procs), so processes started by `exec` are listed
 * too, each described from /proc as `ps -ef` describes it (UID PID PPID C STIME TTY
 * TIME CMD). No `ps` is run: /proc is read directly.
 */
import { readFileSync } from 'node:fs';
import type { TopProcess } from '@vxnet/common/api';
import { parseCgroupMounts, parseProcCgroup, readCgroupProcs } from './cgroup.js';
import { CLOCK_TICKS, cmdlineText, parsePasswd, parsePidStat, parseStatusUid, parseSystemStat, ttyName } from './proc-files.js';
import { HOST_PROC, type ProcSource } from './proc-source.js';

/**
 * The processes in the cgroup of `pid` (a container's init), by pid. A process that
 * ends while it is read is left out. Throws (ENOENT…) when `pid` or its cgroup is gone.
 */
export function listProcesses(pid: number, src: ProcSource = HOST_PROC, now = Date.now()): TopProcess[] {
  const read = (file: string) => readFileSync(`${src.proc}/${file}`, 'utf8');
  const pids = readCgroupProcs(parseProcCgroup(read(`${pid}/cgroup`)), parseCgroupMounts(read('self/mountinfo')));
  const { bootTime } = parseSystemStat(read('stat'));
  let users: Map<number, string>;
  try {
    users = parsePasswd(readFileSync(src.passwd, 'utf8'));
  } catch {
    users = new Map();
  }
  const out: TopProcess[] = [];
  for (const p of [...new Set(pids)].sort((a, b) => a - b)) {
    let stat;
    let uid;
    let cmd;
    try {
      stat = parsePidStat(read(`${p}/stat`));
      uid = parseStatusUid(read(`${p}/status`));
      cmd = cmdlineText(readFileSync(`${src.proc}/${p}/cmdline`));
    } catch {
      continue; // ended meanwhile
    }
    const startMs = bootTime * 1000 + (stat.startTicks * 1000) / CLOCK_TICKS;
    const cpuSeconds = (stat.utime + stat.stime) / CLOCK_TICKS;
    const lifetime = (now - startMs) / 1000;
    out.push({
      uid, user: users.get(uid) ?? String(uid), pid: stat.pid, ppid: stat.ppid,
      // ps: whole percent of its lifetime spent on a CPU
      c: lifetime > 0 ? Math.floor((cpuSeconds * 100) / lifetime) : 0,
      startedAt: new Date(startMs).toISOString(), tty: ttyName(stat.ttyNr), cpuSeconds,
      cmd: cmd !== '' ? cmd : `[${stat.comm}]`,
    });
  }
  return out;
}
