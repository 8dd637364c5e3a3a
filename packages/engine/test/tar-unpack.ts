import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import t, { type Test } from 'tap';
import { UnpackRefused, unpackTar } from '../src/image/tar-unpack.js';
import { gzip, sha256, tarOf, type TarEntry } from './helpers/tar.js';

/** A sandbox directory: `out` (the unpack target) next to `victim` (must stay untouched). */
function sandbox(t: Test) {
  const base = mkdtempSync(join(tmpdir(), 'vx-unpack-'));
  t.teardown(() => rmSync(base, { recursive: true, force: true }));
  const out = join(base, 'a', 'b', 'out');
  mkdirSync(out, { recursive: true });
  writeFileSync(join(base, 'victim'), 'original');
  return { base, out };
}

const unpack = (b: Buffer, dir: string, layer = true) => unpackTar(Readable.from([b]), dir, { layer });

t.test('unpacks files, directories, absolute symlinks as they are, hard links; hashes blob and tar', async (t) => {
  const { out } = sandbox(t);
  const tar = tarOf([
    { path: 'bin/', type: 'Directory' }, { path: 'bin/busybox', body: 'ELF', mode: 0o755 },
    { path: 'bin/sh', type: 'SymbolicLink', linkpath: '/bin/busybox' }, { path: 'bin/ls', type: 'Link', linkpath: 'bin/busybox' },
    { path: './etc/motd', body: 'hi' },
  ]);
  const gz = gzip(tar);
  const r = await unpack(gz, out);
  t.equal(r.digest, sha256(gz), 'digest of the bytes given (compressed)');
  t.equal(r.diffId, sha256(tar), 'diff id of the uncompressed tar');
  t.equal(readlinkSync(join(out, 'bin/sh')), '/bin/busybox', 'an absolute symlink target is kept (resolved in the container)');
  t.equal(lstatSync(join(out, 'bin/ls')).ino, lstatSync(join(out, 'bin/busybox')).ino, 'hard link');
  t.equal(lstatSync(join(out, 'bin/busybox')).mode & 0o777, 0o755, 'mode kept');
  t.equal(readFileSync(join(out, 'etc/motd'), 'utf8'), 'hi');
  t.equal(r.size, 5);
});

t.test('whiteouts are collected, not written', async (t) => {
  const { out } = sandbox(t);
  const r = await unpack(tarOf([{ path: 'etc/' }, { path: 'etc/.wh.motd', body: '' }, { path: 'var/.wh..wh..opq', body: '' }, { path: '.wh.tmp', body: '' }]), out);
  t.same(r.whiteouts, ['etc/motd', 'tmp']);
  t.same(r.opaque, ['var']);
  t.notOk(existsSync(join(out, 'etc/.wh.motd')));
});

t.test('outside a layer, .wh. files are ordinary files', async (t) => {
  const { out } = sandbox(t);
  const r = await unpack(tarOf([{ path: '.wh.x', body: 'x' }]), out, false);
  t.same(r.whiteouts, []);
  t.ok(existsSync(join(out, '.wh.x')));
});

const refusals: Array<[string, TarEntry[], RegExp]> = [
  ['a path climbing out', [{ path: '../../victim', body: 'pwned' }], /"\.\.\/\.\.\/victim" climbs out with "\.\."/],
  ['a path climbing out in the middle', [{ path: 'x/../../../victim', body: 'pwned' }], /climbs out/],
  ['an absolute path', [{ path: '/tmp/vx-abs-victim', body: 'pwned' }], /is an absolute path/],
  ['a write through a symlink made earlier', [{ path: 'esc', type: 'SymbolicLink', linkpath: '../../..' }, { path: 'esc/victim', body: 'pwned' }], /through the symlink "esc"/],
  ['a write through a symlinked directory deeper', [{ path: 'd/', type: 'Directory' }, { path: 'd/l', type: 'SymbolicLink', linkpath: '/' }, { path: 'd/l/tmp/x', body: 'pwned' }], /through the symlink "d\/l"/],
  ['a hard link out of the archive', [{ path: 'pw', type: 'Link', linkpath: '../../../victim' }], /hard link "pw" points outside/],
  ['an absolute hard link', [{ path: 'pw', type: 'Link', linkpath: '/etc/passwd' }], /hard link "pw" points outside/],
  ['a hard link through a symlink', [{ path: 'l', type: 'SymbolicLink', linkpath: '/etc' }, { path: 'pw', type: 'Link', linkpath: 'l/passwd' }], /through the symlink "l"/],
  ['a hard link to a symlink', [{ path: 'l', type: 'SymbolicLink', linkpath: '/etc/passwd' }, { path: 'pw', type: 'Link', linkpath: 'l' }], /through the symlink "l"/],
  ['a whiteout that climbs', [{ path: '.wh...', body: '' }], /not a valid whiteout/],
];
for (const [what, entries, message] of refusals) {
  t.test(`refused: ${what}; nothing written outside`, async (t) => {
    const { base, out } = sandbox(t);
    await t.rejects(unpack(tarOf([{ path: 'ok', body: 'fine' }, ...entries]), out), message);
    const alone = await unpack(tarOf(entries), mkdtempSync(join(base, 'again-'))).then(() => undefined, (err: unknown) => err);
    t.ok(alone instanceof UnpackRefused, `refused as the first entry too (${String(alone)})`);
    t.equal(readFileSync(join(base, 'victim'), 'utf8'), 'original', 'the file outside is untouched');
    t.notOk(existsSync('/tmp/vx-abs-victim'));
  });
}

t.test('a symlink replaced by a file is not followed', async (t) => {
  const { base, out } = sandbox(t);
  await unpack(tarOf([{ path: 'x', type: 'SymbolicLink', linkpath: join(base, 'victim') }, { path: 'x', body: 'new' }]), out);
  t.equal(readFileSync(join(base, 'victim'), 'utf8'), 'original');
  t.equal(readFileSync(join(out, 'x'), 'utf8'), 'new');
  t.notOk(lstatSync(join(out, 'x')).isSymbolicLink());
});

t.test('device nodes and FIFOs are skipped', async (t) => {
  const { out } = sandbox(t);
  const r = await unpack(tarOf([{ path: 'dev/', type: 'Directory' }, { path: 'dev/null', type: 'CharacterDevice' }, { path: 'fifo', type: 'FIFO' }]), out);
  t.equal(r.skipped, 2);
  t.notOk(existsSync(join(out, 'dev/null')));
});

t.test('a corrupt or truncated archive is refused', async (t) => {
  const { out } = sandbox(t);
  const tar = tarOf([{ path: 'a', body: 'x'.repeat(4000) }]);
  const corrupt = Buffer.from(tar);
  corrupt.write('garbage!', 148); // the header checksum
  await t.rejects(unpack(corrupt, mkdtempSync(join(out, 'c'))), /corrupt|not a tar/);
  await t.rejects(unpack(tar.subarray(0, 1500), mkdtempSync(join(out, 't'))), /./, 'cut in the middle of a file');
  await t.rejects(unpack(gzip(tar).subarray(0, 40), mkdtempSync(join(out, 'g'))), /gzip/);
  await t.rejects(unpack(Buffer.from('this is not an archive at all, not even close to one'.repeat(20)), mkdtempSync(join(out, 'n'))), /not a tar archive|corrupt/);
});
