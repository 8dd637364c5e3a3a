/**
 * `vxnet cp`: files and directories between this machine and a container, as tar
 * streams through the engine's archive endpoints (docker's cp). The engine resolves
 * container paths inside the container; here node-tar unpacks what comes back, which
 * refuses absolute paths, `..` and writes through symlinks it did not make.
 */
import { lstatSync, mkdtempSync, renameSync, rmSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import { create, extract } from 'tar';
import { InvalidArgument } from '@vxnet/common';
import { engineStream, resolveEngine, seg, type EngineFlags } from '../engine-client.js';

/** One side of a cp: a container path (`C:PATH`) or a local one. */
export type CpSide = { container: string; path: string } | { local: string };

/**
 * `C:PATH` is a container's path; a path starting with `/` or `.`, or without a colon
 * before its first `/`, is local (as docker reads them).
 */
export function parseCpSide(arg: string): CpSide {
  const colon = arg.indexOf(':');
  const slash = arg.indexOf('/');
  if (colon <= 0 || arg.startsWith('.') || (slash >= 0 && slash < colon)) return { local: arg };
  const path = arg.slice(colon + 1);
  if (path === '') throw new InvalidArgument(`invalid cp argument "${arg}": no path after "${arg.slice(0, colon)}:"`);
  return { container: arg.slice(0, colon), path };
}

/**
 * `vxnet [-H HOST] cp SRC C:DST` or `cp C:SRC DST`: a file or a directory (with its
 * contents). A destination that is a directory receives SRC in it; otherwise it
 * becomes the copy of SRC (its parent must exist).
 */
export async function cpCommand(src: string, dst: string, conn: EngineFlags): Promise<number> {
  const from = parseCpSide(src);
  const to = parseCpSide(dst);
  if ('container' in from && 'container' in to) throw new InvalidArgument('cp copies between this machine and a container: one side must be local');
  if ('local' in from && 'local' in to) throw new InvalidArgument(`cp needs a container on one side (CONTAINER:PATH), got "${src}" and "${dst}"`);
  const target = resolveEngine(conn);
  if ('local' in from && 'container' in to) {
    const local = resolve(from.local);
    try {
      lstatSync(local);
    } catch (err) {
      throw new InvalidArgument(`could not copy "${from.local}" to container "${to.container}": ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file or directory' : (err as Error).message}`);
    }
    const stream = Readable.from(create({ cwd: dirname(local), portable: true }, [basename(local)]));
    const res = await engineStream(target, 'PUT', `/v1/containers/${seg(to.container)}/archive?path=${encodeURIComponent(to.path)}`, { stream, contentType: 'application/x-tar' });
    res.resume();
    return 0;
  }
  if ('container' in from && 'local' in to) {
    const res = await engineStream(target, 'GET', `/v1/containers/${seg(from.container)}/archive?path=${encodeURIComponent(from.path)}`);
    const top = (JSON.parse(String(res.headers['x-vxnet-archive'] ?? '{}')) as { name?: string }).name ?? basename(from.path);
    await unpackLocal(res, resolve(to.local), top, `could not copy from container "${from.container}" to "${to.local}"`);
    return 0;
  }
  throw new InvalidArgument('cp needs one local and one container side');
}

/** Unpack into `dest` when it is a directory; else as `dest` (via a private directory beside it, then a rename). */
async function unpackLocal(archive: Readable, dest: string, top: string, what: string): Promise<void> {
  let isDir = false;
  try {
    isDir = statSync(dest).isDirectory();
  } catch {
    // absent: becomes the copy
  }
  const unpack = (cwd: string) => pipeline(archive, extract({ cwd })).catch((err: unknown) => {
    throw new InvalidArgument(`${what}: ${(err as Error).message}`);
  });
  if (isDir) return unpack(dest);
  const parent = dirname(dest);
  try {
    if (!statSync(parent).isDirectory()) throw new Error('not a directory');
  } catch {
    archive.resume();
    throw new InvalidArgument(`${what}: the directory ${parent} does not exist`);
  }
  const tmp = mkdtempSync(join(parent, '.vxnet-cp-'));
  try {
    await unpack(tmp);
    renameSync(join(tmp, top), dest);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}
