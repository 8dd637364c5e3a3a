/** Reading a container's log file (stdout and stderr, appended by its shim) in chunks. */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import type { LogChunk } from '@vxnet/common/api';

const MAX_LOG_CHUNK = 4 << 20;

/** Bytes of `file` from `offset`, at most 4 MiB, base64. A log not written yet reads as empty. */
export function readLogChunk(file: string, offset: number, running: boolean): LogChunk {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch {
    return { data: '', offset, running };
  }
  try {
    const size = fstatSync(fd).size;
    const start = Math.min(Math.max(0, offset), size);
    const len = Math.min(size - start, MAX_LOG_CHUNK);
    const buf = Buffer.alloc(len);
    const n = len > 0 ? readSync(fd, buf, 0, len, start) : 0;
    return { data: buf.subarray(0, n).toString('base64'), offset: start + n, running };
  } finally {
    closeSync(fd);
  }
}
