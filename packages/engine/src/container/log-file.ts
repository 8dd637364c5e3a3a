/** Reading a container's log file (stdout and stderr, appended by its shim) in chunks. */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import type { LogChunk } from '@vxnet/common/api';
import { readLogTimes, stampLines } from './log-times.js';

const MAX_LOG_CHUNK = 4 << 20;

export interface LogReadOptions {
  /** Prefix each line with when it was written (log-times.ts). */
  timestamps?: boolean;
  /** Only lines written at or after this time, Unix ms. */
  sinceMs?: number;
  /** The file of log-times.ts; needed with timestamps or sinceMs. */
  timesFile?: string;
}

/**
 * Bytes of `file` from `offset`, at most 4 MiB, base64. A log not written yet reads as
 * empty. With timestamps or sinceMs: whole lines only (an unfinished last line waits
 * for its end while the container runs), stamped and filtered; `offset` stays the
 * file's.
 */
export function readLogChunk(file: string, offset: number, running: boolean, o: LogReadOptions = {}): LogChunk {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch {
    return { data: '', offset, running };
  }
  let buf: Buffer;
  let start: number;
  let size: number;
  try {
    size = fstatSync(fd).size;
    start = Math.min(Math.max(0, offset), size);
    const len = Math.min(size - start, MAX_LOG_CHUNK);
    buf = Buffer.alloc(len);
    const n = len > 0 ? readSync(fd, buf, 0, len, start) : 0;
    buf = buf.subarray(0, n);
  } finally {
    closeSync(fd);
  }
  if (!o.timestamps && o.sinceMs === undefined) return { data: buf.toString('base64'), offset: start + buf.length, running };
  const times = o.timesFile ? readLogTimes(o.timesFile) : [];
  const final = !running && start + buf.length >= size;
  const { text, used } = stampLines(buf, start, times, { timestamps: o.timestamps === true, ...(o.sinceMs !== undefined ? { sinceMs: o.sinceMs } : {}), final });
  return { data: text.toString('base64'), offset: start + used, running };
}
