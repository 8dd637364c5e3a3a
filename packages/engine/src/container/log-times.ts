/**
 * When each line of a container's log was written (`logs --timestamps`, `--since`).
 *
 * The log file is written by the container's shim (or the engine's terminal copy),
 * not by the engine, so the engine watches it grow (inotify, with a 1 s stat as a
 * fallback) and appends to `container.log.times` one "SIZE MS" line per growth seen:
 * the bytes below SIZE had been written by MS (Unix ms). A line's time is that of the
 * first growth that took in its first byte: the moment the engine saw it, a few ms
 * after it was written. Lines written while the engine was down carry the time it came
 * back and saw them; times never go backwards, so the lines stay in order.
 */
import { appendFileSync, closeSync, openSync, readFileSync, statSync, watch, type FSWatcher } from 'node:fs';

const POLL_MS = 1000;

export class LogClock {
  private size = 0;
  private watcher: FSWatcher | undefined;
  private poll: NodeJS.Timeout | undefined;

  constructor(private readonly logFile: string, private readonly timesFile: string) {
    const times = readLogTimes(timesFile);
    this.size = times.length > 0 ? (times[times.length - 1] as [number, number])[0] : 0;
  }

  /** Start watching (the log file is made if absent). Idempotent. */
  start(): void {
    if (this.watcher) return;
    closeSync(openSync(this.logFile, 'a'));
    this.check();
    this.watcher = watch(this.logFile, () => this.check());
    this.watcher.on('error', () => undefined); // the poll goes on
    this.watcher.unref();
    this.poll = setInterval(() => this.check(), POLL_MS);
    this.poll.unref();
  }

  /** Note what was written last, then stop watching. Idempotent. */
  stop(): void {
    this.check();
    this.watcher?.close();
    this.watcher = undefined;
    clearInterval(this.poll);
  }

  /** Record a growth of the log, if any. */
  check(): void {
    let size: number;
    try {
      size = statSync(this.logFile).size;
    } catch {
      return;
    }
    if (size <= this.size) return;
    this.size = size;
    try {
      appendFileSync(this.timesFile, `${size} ${Date.now()}\n`);
    } catch {
      // the container's directory is gone (removed): nothing to stamp
    }
  }
}

/** The growths recorded in `timesFile`, in order: [size, ms]. Absent: none. */
export function readLogTimes(timesFile: string): Array<[number, number]> {
  let text: string;
  try {
    text = readFileSync(timesFile, 'utf8');
  } catch {
    return [];
  }
  const out: Array<[number, number]> = [];
  for (const line of text.split('\n')) {
    const [s, t] = line.split(' ').map(Number);
    if (Number.isSafeInteger(s) && Number.isSafeInteger(t)) out.push([s as number, t as number]);
  }
  return out;
}

/** The time (Unix ms) of the byte at `offset`: the first growth past it; `now` when none is recorded yet. */
export function timeOfOffset(times: ReadonlyArray<[number, number]>, offset: number, now = Date.now()): number {
  let lo = 0;
  let hi = times.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if ((times[mid] as [number, number])[0] > offset) hi = mid;
    else lo = mid + 1;
  }
  return lo < times.length ? (times[lo] as [number, number])[1] : now;
}

/**
 * Complete lines of `data` (read from `offset` of the log), each prefixed by its time
 * in RFC 3339 (`timestamps`), those before `sinceMs` dropped. Returns the text and how
 * many bytes of `data` it covers (the last, unfinished line is left for later unless
 * `final`).
 */
export function stampLines(data: Buffer, offset: number, times: ReadonlyArray<[number, number]>, o: { timestamps: boolean; sinceMs?: number; final: boolean }): { text: Buffer; used: number } {
  const out: Buffer[] = [];
  let at = 0;
  while (at < data.length) {
    const nl = data.indexOf(0x0a, at);
    if (nl < 0 && !o.final) break;
    const end = nl < 0 ? data.length : nl + 1;
    const ms = timeOfOffset(times, offset + at);
    if (o.sinceMs === undefined || ms >= o.sinceMs) {
      if (o.timestamps) out.push(Buffer.from(`${new Date(ms).toISOString()} `));
      out.push(data.subarray(at, end));
    }
    at = end;
  }
  return { text: Buffer.concat(out), used: at };
}
