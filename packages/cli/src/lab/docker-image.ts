/**
 * The lab's Docker image, without a registry: a root filesystem made of Debian's
 * static busybox (the binary, a symlink per applet at the path `busybox --list-full`
 * gives, the directories a container expects, /etc/passwd and /etc/group), written as
 * a tar archive here and imported into each host's dockerd as `vxnet-busybox:latest`
 * (POST /images/create?fromSrc=-, what `docker import` does). Containers run it with
 * `--pull never`.
 *
 * The archive is plain POSIX ustar written by this file: no shell, no `tar` binary,
 * and the same bytes every time (fixed owner and mtime), so every host imports the
 * same layer.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';

/** The image every lab dockerd has (`docker run --pull never vxnet-busybox …`). */
export const LAB_DOCKER_IMAGE = 'vxnet-busybox:latest';

/** Where Debian's busybox-static installs the binary (bootstrap installs the package). */
export const BUSYBOX = '/bin/busybox';

const BLOCK = 512;
/** The archive's mtime for every entry: fixed, so the archive is the same on every build. */
const MTIME = 0;

export type TarEntry =
  | { type: 'dir'; path: string; mode: number }
  | { type: 'file'; path: string; mode: number; data: Buffer }
  | { type: 'symlink'; path: string; target: string };

const DIRS: Array<[string, number]> = [
  ['bin', 0o755], ['sbin', 0o755], ['usr', 0o755], ['usr/bin', 0o755], ['usr/sbin', 0o755], ['etc', 0o755], ['proc', 0o555],
  ['sys', 0o555], ['dev', 0o755], ['tmp', 0o1777], ['root', 0o700], ['var', 0o755], ['run', 0o755], ['home', 0o755],
];

/**
 * The entries of the busybox root filesystem, from the static binary at `busybox`.
 * Throws when it is missing or not a static executable (a dynamic one would not run
 * in an image without its libraries).
 */
export function busyboxEntries(busybox = BUSYBOX): TarEntry[] {
  const data = readFileSync(busybox);
  if (!statSync(busybox).isFile()) throw new Error(`${busybox} is not a file`);
  if (hasInterpreter(data)) throw new Error(`${busybox} is dynamically linked; the image needs Debian's busybox-static`);
  const entries: TarEntry[] = DIRS.map(([path, mode]) => ({ type: 'dir', path, mode }));
  entries.push({ type: 'file', path: 'bin/busybox', mode: 0o755, data });
  const applets = execFileSync(busybox, ['--list-full'], { encoding: 'utf8' }).split('\n').map((s) => s.trim()).filter(Boolean);
  const seen = new Set(['bin/busybox']);
  for (const applet of applets.sort()) {
    // paths come from the binary itself; still, only plain relative paths in known directories
    if (seen.has(applet) || applet.includes('..') || applet.startsWith('/') || !DIRS.some(([d]) => applet.startsWith(`${d}/`))) continue;
    seen.add(applet);
    entries.push({ type: 'symlink', path: applet, target: '/bin/busybox' });
  }
  entries.push({ type: 'file', path: 'etc/passwd', mode: 0o644, data: Buffer.from('root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n') });
  entries.push({ type: 'file', path: 'etc/group', mode: 0o644, data: Buffer.from('root:x:0:\nnogroup:x:65534:\n') });
  return entries;
}

/** A POSIX ustar archive of `entries` (owner root:root, mtime 0), ending in two zero blocks. */
export function tarArchive(entries: TarEntry[]): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    const data = e.type === 'file' ? e.data : Buffer.alloc(0);
    parts.push(ustarHeader(e, data.length));
    if (data.length > 0) {
      parts.push(data);
      const pad = (BLOCK - (data.length % BLOCK)) % BLOCK;
      if (pad > 0) parts.push(Buffer.alloc(pad));
    }
  }
  parts.push(Buffer.alloc(2 * BLOCK));
  return Buffer.concat(parts);
}

/** The image's archive: `tarArchive(busyboxEntries(busybox))`. */
export function busyboxImageTar(busybox = BUSYBOX): Buffer {
  return tarArchive(busyboxEntries(busybox));
}

/** True for a 64-bit little-endian ELF with a PT_INTERP program header (a dynamic executable). */
export function hasInterpreter(elf: Buffer): boolean {
  const ELFCLASS64 = 2;
  const ELFDATA2LSB = 1;
  const PT_INTERP = 3;
  if (elf.length < 64 || elf.readUInt32BE(0) !== 0x7f454c46 || elf[4] !== ELFCLASS64 || elf[5] !== ELFDATA2LSB) return false;
  const phoff = Number(elf.readBigUInt64LE(0x20));
  const phentsize = elf.readUInt16LE(0x36);
  const phnum = elf.readUInt16LE(0x38);
  for (let i = 0; i < phnum; i++) {
    const at = phoff + i * phentsize;
    if (at + 4 <= elf.length && elf.readUInt32LE(at) === PT_INTERP) return true;
  }
  return false;
}

function ustarHeader(e: TarEntry, size: number): Buffer {
  const name = e.type === 'dir' ? `${e.path}/` : e.path;
  if (Buffer.byteLength(name) > 100) throw new Error(`tar entry name too long for ustar: ${name}`);
  const h = Buffer.alloc(BLOCK);
  const put = (offset: number, length: number, text: string) => h.write(text, offset, length, 'utf8');
  const octal = (offset: number, length: number, value: number) => put(offset, length, `${value.toString(8).padStart(length - 1, '0')}\0`);
  put(0, 100, name);
  octal(100, 8, e.type === 'symlink' ? 0o777 : e.mode);
  octal(108, 8, 0); // uid
  octal(116, 8, 0); // gid
  octal(124, 12, size);
  octal(136, 12, MTIME);
  put(148, 8, ' '.repeat(8)); // checksum: counted as spaces
  put(156, 1, e.type === 'dir' ? '5' : e.type === 'symlink' ? '2' : '0');
  if (e.type === 'symlink') put(157, 100, e.target);
  put(257, 6, 'ustar\0');
  put(263, 2, '00');
  put(265, 32, 'root');
  put(297, 32, 'root');
  let sum = 0;
  for (const b of h) sum += b;
  put(148, 8, `${sum.toString(8).padStart(6, '0')}\0 `);
  return h;
}
