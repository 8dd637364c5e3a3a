/**
 * Parsers of the /proc files that `stats` and `top` read (proc(5)). Pure: text in,
 * numbers out, so each is tested on the kernel's own formats; the readers that open
 * the files are container-stats.ts and container-top.ts.
 *
 * Times in /proc are in clock ticks of USER_HZ, which the kernel fixes at 100 on every
 * architecture Linux exports to user space (sysconf(_SC_CLK_TCK) answers the same
 * constant), so no syscall is needed to learn it.
 */

/** USER_HZ: /proc's clock ticks per second. */
export const CLOCK_TICKS = 100;

/** The fields of /proc/PID/stat that top needs (proc(5) numbering in comments). */
export interface PidStat {
  pid: number;
  /** (2) the executable's name, at most 15 characters */
  comm: string;
  /** (3) R, S, D, Z, T… */
  state: string;
  /** (4) */
  ppid: number;
  /** (7) device number of the controlling terminal, 0 without one */
  ttyNr: number;
  /** (14) + (15) user and system CPU time, clock ticks */
  utime: number;
  stime: number;
  /** (22) start time after boot, clock ticks */
  startTicks: number;
}

/**
 * Parse /proc/PID/stat. comm (field 2) may hold spaces and parentheses, so the fields
 * after it are counted from its *last* ')'. Throws on text that is not one.
 */
export function parsePidStat(text: string): PidStat {
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  if (open < 0 || close < open) throw new Error('not a /proc/PID/stat line');
  const rest = text.slice(close + 2).trim().split(/\s+/);
  // rest[0] is field 3
  const field = (n: number): number => {
    const v = Number(rest[n - 3]);
    if (!Number.isFinite(v)) throw new Error(`/proc/PID/stat field ${n} is not a number`);
    return v;
  };
  return {
    pid: Number(text.slice(0, open).trim()),
    comm: text.slice(open + 1, close),
    state: rest[0] ?? '?',
    ppid: field(4),
    ttyNr: field(7),
    utime: field(14),
    stime: field(15),
    startTicks: field(22),
  };
}

/** The host-wide lines of /proc/stat that stats and top need. */
export interface SystemStat {
  /** Sum of the aggregate "cpu" line's user, nice, system, idle, iowait, irq and softirq, ticks (docker's denominator). */
  cpuTicks: number;
  /** The number of per-CPU "cpuN" lines: the CPUs online. */
  onlineCpus: number;
  /** btime: boot time, seconds since the epoch. */
  bootTime: number;
}

export function parseSystemStat(text: string): SystemStat {
  let cpuTicks = Number.NaN;
  let onlineCpus = 0;
  let bootTime = Number.NaN;
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f[0] === 'cpu') cpuTicks = f.slice(1, 8).reduce((sum, v) => sum + Number(v), 0);
    else if (f[0] !== undefined && /^cpu\d+$/.test(f[0])) onlineCpus++;
    else if (f[0] === 'btime') bootTime = Number(f[1]);
  }
  if (!Number.isFinite(cpuTicks) || onlineCpus === 0 || !Number.isFinite(bootTime)) throw new Error('/proc/stat has no cpu, cpuN or btime line');
  return { cpuTicks, onlineCpus, bootTime };
}

/** Interface counters of /proc/PID/net/dev, by interface, for the network namespace of PID. */
export interface NetDevCounters {
  rxBytes: number;
  rxPackets: number;
  rxErrors: number;
  rxDropped: number;
  txBytes: number;
  txPackets: number;
  txErrors: number;
  txDropped: number;
}

/**
 * Parse /proc/PID/net/dev: two header lines, then `name: 8 receive and 8 transmit
 * columns` (bytes packets errs drop fifo frame compressed multicast | bytes packets
 * errs drop fifo colls carrier compressed).
 */
export function parseNetDev(text: string): Record<string, NetDevCounters> {
  const out: Record<string, NetDevCounters> = {};
  for (const line of text.split('\n')) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const name = line.slice(0, colon).trim();
    const v = line.slice(colon + 1).trim().split(/\s+/).map(Number);
    if (name === '' || v.length < 16 || v.some((n) => !Number.isFinite(n))) continue;
    out[name] = {
      rxBytes: v[0] as number, rxPackets: v[1] as number, rxErrors: v[2] as number, rxDropped: v[3] as number,
      txBytes: v[8] as number, txPackets: v[9] as number, txErrors: v[10] as number, txDropped: v[11] as number,
    };
  }
  return out;
}

/** MemTotal of /proc/meminfo, bytes. */
export function parseMemTotal(text: string): number {
  const m = /^MemTotal:\s+(\d+)\s+kB/m.exec(text);
  if (!m) throw new Error('/proc/meminfo has no MemTotal line');
  return Number(m[1]) * 1024;
}

/** The real uid of /proc/PID/status ("Uid:\treal\teffective\tsaved\tfs"). */
export function parseStatusUid(text: string): number {
  const m = /^Uid:\s+(\d+)/m.exec(text);
  if (!m) throw new Error('/proc/PID/status has no Uid line');
  return Number(m[1]);
}

/** uid -> name from /etc/passwd (the first entry of a uid wins, as getpwuid answers). */
export function parsePasswd(text: string): Map<number, string> {
  const names = new Map<number, string>();
  for (const line of text.split('\n')) {
    const f = line.split(':');
    if (f.length < 3 || line.startsWith('#')) continue;
    const uid = Number(f[2]);
    if (f[0] && Number.isInteger(uid) && !names.has(uid)) names.set(uid, f[0]);
  }
  return names;
}

/**
 * The TTY column of ps from tty_nr (new_encode_dev: major in bits 8–19, minor in bits
 * 0–7 and 20–31): pts/N for Unix98 ptys (majors 136–143), ttyN / ttySN for the
 * consoles and serial lines, "?" for none or a device without a known name.
 */
export function ttyName(ttyNr: number): string {
  if (ttyNr === 0) return '?';
  const major = (ttyNr >>> 8) & 0xfff;
  const minor = (ttyNr & 0xff) | ((ttyNr >>> 12) & 0xfff00);
  if (major >= 136 && major <= 143) return `pts/${(major - 136) * 256 + minor}`;
  if (major === 4) return minor < 64 ? `tty${minor}` : `ttyS${minor - 64}`;
  return '?';
}

/** /proc/PID/cmdline (NUL-separated arguments) as one line; empty for none (kernel threads, zombies). */
export function cmdlineText(raw: Buffer | string): string {
  return raw.toString().replace(/\0+$/, '').split('\0').join(' ');
}
