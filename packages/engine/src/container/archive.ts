/**
 * `cp` to and from a container, as tar streams (docker's archive endpoints): pack a
 * path of the container, or unpack an archive into it. Paths are the container's,
 * resolved inside its root by scoped-path.ts: nothing outside the container's root is
 * read or written, whatever its symlinks say or the archive's entries name.
 *
 * An archive is refused at the first entry that names an absolute path or climbs with
 * `..`; what came before it was written (the stream is not buffered).
 */
import { constants, closeSync, fchmodSync, lstatSync, mkdirSync, openSync, statSync, symlinkSync, unlinkSync, writeSync, linkSync } from 'node:fs';
import { basename, dirname, posix } from 'node:path';
import { Readable } from 'node:stream';
import { Parser, create, type ReadEntry } from 'tar';
import { ScopeError, containerPathParts, resolveInRoot } from './scoped-path.js';

/** Thrown for what the user asked that cannot be done (no such path, not a directory, a bad archive). */
export class CopyProblem extends Error {}

export interface Packed {
  /** The archive: one top-level entry named `name`. */
  stream: Readable;
  name: string;
  isDir: boolean;
}

/** A tar stream of container path `path` (not following a symlink it names), under `root`. */
export function packFromRoot(root: string, path: string): Packed {
  const parts = containerPathParts(path);
  const host = resolveInRoot(root, path, false);
  let isDir: boolean;
  try {
    isDir = lstatSync(host).isDirectory();
  } catch {
    throw new CopyProblem(`no such file or directory: ${path}`);
  }
  // the container's root itself: its contents under "."
  const name = parts.length === 0 ? '.' : basename(host);
  // a node stream (node-tar's is a Minipass), so the HTTP server streams it as any other
  const stream = Readable.from(create({ cwd: parts.length === 0 ? host : dirname(host), portable: true }, [name]));
  return { stream, name, isDir };
}

/**
 * Unpack `input` at container path `dest` under `root`: into it when it is a
 * directory; else as it (the archive's top-level entry renamed to its last
 * component), in its parent, which must be a directory. Resolves with the container
 * path written. Throws ScopeError or CopyProblem; a write error (read-only, full) as it is.
 */
export async function unpackIntoRoot(root: string, dest: string, input: Readable): Promise<string> {
  const destParts = containerPathParts(dest);
  let dir = posix.join('/', ...destParts);
  let rename: string | undefined;
  // `/` is the root itself (for a running container /proc/PID/root, a symlink to lstat)
  if (destParts.length > 0 && !isDirectory(resolveInRoot(root, dir))) {
    rename = destParts[destParts.length - 1] as string;
    dir = posix.join('/', ...destParts.slice(0, -1));
    if (!isDirectory(resolveInRoot(root, dir))) throw new CopyProblem(`no such directory: ${dir}`);
  }
  let top: string | undefined;
  const parser = new Parser();
  const work = new Promise<void>((resolve, reject) => {
    const fail = (err: unknown) => {
      input.unpipe(parser);
      input.resume();
      reject(err);
    };
    parser.on('entry', (entry: ReadEntry) => {
      try {
        const parts = entryParts(entry.path);
        if (parts.length === 0) return void entry.resume(); // "./"
        top ??= parts[0];
        if (parts[0] !== top && rename !== undefined) throw new CopyProblem(`the archive has several top-level entries (${top}, ${parts[0]}): copy them into a directory`);
        if (rename !== undefined) parts[0] = rename;
        writeEntry(root, posix.join(dir, ...parts), entry, (linkpath) => {
          const lp = entryParts(linkpath);
          if (rename !== undefined && lp[0] === top) lp[0] = rename;
          return resolveInRoot(root, posix.join(dir, ...lp), false);
        });
      } catch (err) {
        entry.resume();
        fail(err);
      }
    });
    parser.on('error', fail);
    parser.on('close', () => resolve());
    input.on('error', fail);
  });
  input.pipe(parser);
  await work;
  return rename !== undefined ? posix.join(dir, rename) : dir;
}

/** An entry's path as components; refuses absolute paths and `..`. */
function entryParts(path: string): string[] {
  if (path.startsWith('/')) throw new ScopeError(`the archive entry "${path}" is an absolute path`);
  const parts = path.split('/').filter((c) => c !== '' && c !== '.');
  if (parts.includes('..')) throw new ScopeError(`the archive entry "${path}" climbs out of the destination with ".."`);
  return parts;
}

/** Write one entry at container path `path` (the last component never followed). */
function writeEntry(root: string, path: string, entry: ReadEntry, linkTarget: (linkpath: string) => string): void {
  const host = resolveInRoot(root, path, false);
  const mode = (entry.mode ?? 0o644) & 0o7777;
  const existing = lstatOrUndefined(host);
  switch (entry.type) {
    case 'Directory':
      if (existing && !existing.isDirectory()) unlinkSync(host);
      if (!existing?.isDirectory()) mkdirSync(host, { mode });
      entry.resume();
      return;
    case 'File':
    case 'OldFile':
    case 'ContiguousFile': {
      if (existing && !existing.isFile()) {
        if (existing.isDirectory()) throw new CopyProblem(`cannot overwrite directory ${path} with a file`);
        unlinkSync(host); // a symlink: replaced, never followed
      }
      const fd = openSync(host, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW, mode);
      fchmodSync(fd, mode);
      entry.on('data', (d: Buffer) => {
        for (let at = 0; at < d.length;) at += writeSync(fd, d, at, d.length - at);
      });
      entry.on('end', () => closeSync(fd));
      return;
    }
    case 'SymbolicLink':
      if (existing) {
        if (existing.isDirectory()) throw new CopyProblem(`cannot overwrite directory ${path} with a symlink`);
        unlinkSync(host);
      }
      symlinkSync(entry.linkpath ?? '', host); // its target is the container's business: never followed here
      entry.resume();
      return;
    case 'Link': {
      const target = linkTarget(entry.linkpath ?? '');
      if (existing) unlinkSync(host);
      linkSync(target, host);
      entry.resume();
      return;
    }
    default:
      entry.resume(); // devices, fifos, pax headers: skipped
  }
}

function lstatOrUndefined(p: string) {
  try {
    return lstatSync(p);
  } catch {
    return undefined;
  }
}

function isDirectory(p: string): boolean {
  try {
    return statSync(p).isDirectory() && !lstatSync(p).isSymbolicLink();
  } catch {
    return false;
  }
}
