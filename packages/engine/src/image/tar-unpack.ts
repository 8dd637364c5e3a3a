/**
 * Unpacking an untrusted tar stream (an uploaded archive, an image layer) into a
 * fresh directory, refusing anything that could write outside it, while hashing
 * what was read: sha256 of the bytes as given (an OCI blob digest) and of the
 * uncompressed tar (a layer's diff id). gzip is recognised by its magic bytes.
 *
 * node-tar writes the files (modes, owners, times, hard and symbolic links), synchronously. Its own
 * path protections are switched off (preservePaths) because they rewrite what an image
 * means (an absolute symlink target such as /bin/busybox would become relative); the
 * checks below refuse instead, with the entry's name, before node-tar sees the entry:
 *   - an absolute path, or a ".." component (`../../etc/passwd`)
 *   - a path that goes through a symlink made earlier in the same tar (`a -> /etc`
 *     then `a/passwd`): the only way a relative path can leave the directory, since the
 *     directory starts empty
 *   - a hard link whose target is absolute, climbs with "..", or goes through a symlink
 *   - entry types other than file, directory, symlink, hard link; device nodes and
 *     FIFOs are skipped (the container's /dev is its own tmpfs)
 * Symlink targets themselves are left as they are: they are resolved inside the
 * container's root, never by the engine.
 *
 * With `layer`, whiteouts (`.wh.NAME`, `.wh..wh..opq`, OCI image-spec layer.md) are not
 * written: they are returned for whiteouts.ts to turn into overlayfs whiteouts.
 */
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { UnpackSync, type ReadEntry } from 'tar';

export const OPAQUE_WHITEOUT = '.wh..wh..opq';
export const WHITEOUT_PREFIX = '.wh.';

export interface UnpackOptions {
  /** An image layer: collect whiteouts instead of writing them, and hash it (otherwise the digests are left empty). */
  layer: boolean;
}

export interface UnpackResult {
  /** `sha256:<hex>` of the bytes read (compressed, if they were). */
  digest: string;
  /** `sha256:<hex>` of the uncompressed tar. */
  diffId: string;
  /** Bytes of the regular files written. */
  size: number;
  /** Paths (relative, `/`-separated) that the layer deletes from the layers below. */
  whiteouts: string[];
  /** Directories (relative; `` for the root) whose lower layers' contents the layer hides. */
  opaque: string[];
  /** Entries skipped: device nodes and FIFOs. */
  skipped: number;
}

/** A tar that may not be unpacked: `message` says which entry and why. */
export class UnpackRefused extends Error {}

/**
 * Unpack `input` into `dir` (an existing empty directory). Throws UnpackRefused for an
 * entry refused by the checks above or an archive that is not a (gzipped) tar or is cut
 * short; the caller removes `dir` then. Never writes outside `dir`.
 */
export async function unpackTar(input: AsyncIterable<Buffer> | Readable, dir: string, o: UnpackOptions): Promise<UnpackResult> {
  const raw = createHash('sha256');
  const plain = createHash('sha256');
  const result: UnpackResult = { digest: '', diffId: '', size: 0, whiteouts: [], opaque: [], skipped: 0 };
  const symlinks = new Set<string>();
  let refused: UnpackRefused | undefined;
  let failure: unknown;
  const form = { gzip: false };
  // synchronous: every entry of a chunk is on disk when write() returns, so nothing is
  // still being written (or re-creating directories) once this function has returned
  const unpack = new UnpackSync({
    cwd: dir, strict: true, preservePaths: true, chmod: true, maxDepth: 256,
    filter: (path: string, entry: ReadEntry | import('node:fs').Stats) => {
      if (refused || failure !== undefined) return false;
      const verdict = judge(path, entry as ReadEntry, symlinks, o, result);
      if (verdict instanceof UnpackRefused) {
        refused = verdict;
        unpack.abort(verdict);
        return false;
      }
      return verdict;
    },
  });
  unpack.on('error', (err: Error) => {
    failure ??= err;
  });
  try {
    // an archive (not a layer) has no digest to check: not hashed
    const counted = o.layer ? hashed(input, raw) : input;
    for await (const chunk of hashedIf(decompress(counted, form), plain, form)) {
      unpack.write(chunk);
      if (refused || failure !== undefined) break;
    }
    if (!refused && failure === undefined) unpack.end();
  } catch (err) {
    failure ??= err;
  }
  if (refused) throw refused;
  if (failure !== undefined) throw new UnpackRefused(tarProblem(failure));
  if (!o.layer) return result;
  result.digest = `sha256:${raw.digest('hex')}`;
  result.diffId = form.gzip ? `sha256:${plain.digest('hex')}` : result.digest;
  return result;
}

/**
 * The digests of a blob without unpacking it (a layer already in the store, whose
 * blob must still be the one its manifest names). Throws UnpackRefused for a gzip
 * stream that is corrupt.
 */
export async function digestBlob(input: AsyncIterable<Buffer> | Readable): Promise<{ digest: string; diffId: string }> {
  const raw = createHash('sha256');
  const plain = createHash('sha256');
  const form = { gzip: false };
  try {
    for await (const chunk of hashedIf(decompress(hashed(input, raw), form), plain, form)) void chunk;
  } catch (err) {
    if (err instanceof UnpackRefused) throw err;
    throw new UnpackRefused(tarProblem(err));
  }
  const digest = `sha256:${raw.digest('hex')}`;
  return { digest, diffId: form.gzip ? `sha256:${plain.digest('hex')}` : digest };
}

async function* hashed(src: AsyncIterable<Buffer>, h: ReturnType<typeof createHash>): AsyncGenerator<Buffer> {
  for await (const chunk of src) {
    h.update(chunk);
    yield chunk;
  }
}

/** `src`, hashed into `h` only when it was compressed (uncompressed, its diff id is its digest: hashed once). */
async function* hashedIf(src: AsyncIterable<Buffer>, h: ReturnType<typeof createHash>, form: { gzip: boolean }): AsyncGenerator<Buffer> {
  for await (const chunk of src) {
    if (form.gzip) h.update(chunk);
    yield chunk;
  }
}

/** gunzip when the stream starts with gzip's magic bytes (and say so in `form`); refuse zstd (not supported here). */
async function* decompress(src: AsyncIterable<Buffer>, form: { gzip: boolean }): AsyncGenerator<Buffer> {
  const it = src[Symbol.asyncIterator]();
  let head = Buffer.alloc(0);
  while (head.length < 4) {
    const n = await it.next();
    if (n.done) break;
    head = Buffer.concat([head, n.value]);
  }
  const rest = async function* () {
    if (head.length > 0) yield head;
    for (;;) {
      const n = await it.next();
      if (n.done) return;
      yield n.value;
    }
  };
  if (head[0] === 0x1f && head[1] === 0x8b) {
    form.gzip = true;
    yield* Readable.from(rest()).pipe(createGunzip());
  } else if (head.readUInt32LE(0) === 0xfd2fb528) {
    throw new UnpackRefused('it is zstd-compressed, which this engine does not read (use gzip or an uncompressed tar)');
  } else {
    yield* rest();
  }
}

/** true: unpack; false: skip; UnpackRefused: stop. */
function judge(path: string, entry: ReadEntry, symlinks: Set<string>, o: UnpackOptions, result: UnpackResult): boolean | UnpackRefused {
  const shown = JSON.stringify(path);
  const parts = relativeParts(path);
  if (typeof parts === 'string') return new UnpackRefused(`entry ${shown} ${parts}`);
  if (parts.length === 0) return false; // the root itself ("./")
  const through = throughSymlink(parts, symlinks);
  if (through !== undefined) return new UnpackRefused(`entry ${shown} would be written through the symlink "${through}"`);
  const rel = parts.join('/');
  const base = parts[parts.length - 1] as string;
  if (o.layer && base.startsWith(WHITEOUT_PREFIX)) {
    const parent = parts.slice(0, -1).join('/');
    if (base === OPAQUE_WHITEOUT) result.opaque.push(parent);
    else {
      const name = base.slice(WHITEOUT_PREFIX.length);
      if (name === '' || name === '.' || name === '..' || name.startsWith(WHITEOUT_PREFIX)) return new UnpackRefused(`entry ${shown} is not a valid whiteout`);
      result.whiteouts.push(parent === '' ? name : `${parent}/${name}`);
    }
    return false;
  }
  switch (entry.type) {
    case 'File': case 'OldFile': case 'ContiguousFile':
      result.size += entry.size ?? 0;
      symlinks.delete(rel);
      return true;
    case 'Directory':
      symlinks.delete(rel);
      return true;
    case 'SymbolicLink':
      if (!entry.linkpath) return new UnpackRefused(`symlink ${shown} has no target`);
      symlinks.add(rel);
      return true;
    case 'Link': {
      const target = relativeParts(entry.linkpath ?? '');
      if (typeof target === 'string' || target.length === 0) return new UnpackRefused(`hard link ${shown} points outside the archive (${JSON.stringify(entry.linkpath)})`);
      const via = throughSymlink([...target, ''], symlinks);
      if (via !== undefined || symlinks.has(target.join('/'))) return new UnpackRefused(`hard link ${shown} points through the symlink "${via ?? target.join('/')}"`);
      symlinks.delete(rel);
      return true;
    }
    case 'CharacterDevice': case 'BlockDevice': case 'FIFO':
      result.skipped++;
      return false;
    default:
      return new UnpackRefused(`entry ${shown} has a type this engine does not unpack (${entry.type})`);
  }
}

/** The path's components without "." and empty ones, or why it is refused. */
export function relativeParts(path: string): string[] | string {
  if (path.startsWith('/')) return 'is an absolute path';
  if (path.includes('\0')) return 'holds a NUL byte';
  const parts = path.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.includes('..')) return 'climbs out with ".."';
  return parts;
}

/** The first proper prefix of `parts` that is a symlink made by this tar, if any. */
function throughSymlink(parts: string[], symlinks: Set<string>): string | undefined {
  if (symlinks.size === 0) return undefined;
  for (let i = 1; i < parts.length; i++) {
    const prefix = parts.slice(0, i).join('/');
    if (symlinks.has(prefix)) return prefix;
  }
  return undefined;
}

/** node-tar's and zlib's errors, as the phrase after "the archive …". */
function tarProblem(err: unknown): string {
  const e = err as { code?: string; tarCode?: string; message?: string };
  const code = e.tarCode ?? e.code ?? '';
  if (code === 'TAR_BAD_ARCHIVE') return 'it is not a tar archive (or is corrupt)';
  if (code === 'Z_BUF_ERROR' || code === 'Z_DATA_ERROR' || /unexpected end of file/.test(e.message ?? '')) return `its gzip stream is corrupt or cut short (${e.message ?? code})`;
  if (code === 'TAR_ENTRY_INVALID' || code === 'TAR_ABORT') return `it is corrupt (${(e.message ?? code).replace(/^TAR_[A-Z_]+: /, '')})`;
  return `it could not be unpacked (${e.message ?? String(err)})`;
}
