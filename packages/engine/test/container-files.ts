/**
 * What the engine reads and writes inside a container's root (cp, -u): paths resolved
 * inside the root whatever its symlinks say, archives refused at a climbing entry and
 * nothing written outside; the merge of image defaults with -w/-u/--entrypoint; log
 * timestamps. On a scratch directory standing for a container root (no root needed).
 */
import t from 'tap';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { Header, Parser, type ReadEntry } from 'tar';
import type { RunRequest } from '@vxnet/common/api';
import { packFromRoot, unpackIntoRoot } from '../src/container/archive.js';
import { stampLines, timeOfOffset } from '../src/container/log-times.js';
import { BUSYBOX_DEFAULTS, KEEP_ALIVE, mergeEnv, processConfig, type ImageDefaults } from '../src/container/process-config.js';
import { readInRoot, resolveInRoot } from '../src/container/scoped-path.js';

const scratch = mkdtempSync(join(tmpdir(), 'vxnet-cfiles-'));
t.teardown(() => rmSync(scratch, { recursive: true, force: true }));
/** A container root beside a "host" directory holding a secret it must never reach. */
function world(tag: string) {
  const base = join(scratch, tag);
  const root = join(base, 'root');
  const host = join(base, 'host');
  mkdirSync(join(root, 'etc'), { recursive: true });
  mkdirSync(join(root, 'tmp', 'd'), { recursive: true });
  mkdirSync(host, { recursive: true });
  writeFileSync(join(host, 'secret'), 'host secret\n');
  writeFileSync(join(root, 'etc', 'passwd'), 'root:x:0:0::/root:/bin/sh\nnobody:x:65534:65534::/:/bin/false\napp:x:1000:1000::/:/bin/sh\n');
  writeFileSync(join(root, 'etc', 'group'), 'root:x:0:\nstaff:x:50:\n');
  return { root, host };
}

/** A tar archive of the given entries, made header by header (so it can hold what tar(1) would refuse). */
function tarOf(entries: Array<{ path: string; type?: 'File' | 'Directory' | 'SymbolicLink'; body?: string; linkpath?: string }>): Buffer {
  const blocks: Buffer[] = [];
  for (const e of entries) {
    const body = Buffer.from(e.body ?? '');
    const type = e.type ?? 'File';
    const h = new Header({ path: e.path, type, size: type === 'File' ? body.length : 0, mode: type === 'Directory' ? 0o755 : 0o644, mtime: new Date(), ...(e.linkpath ? { linkpath: e.linkpath } : {}) });
    const block = Buffer.alloc(512);
    h.encode(block, 0);
    blocks.push(block);
    if (type === 'File' && body.length > 0) blocks.push(body, Buffer.alloc((512 - (body.length % 512)) % 512));
  }
  blocks.push(Buffer.alloc(1024));
  return Buffer.concat(blocks);
}

async function entriesOf(stream: Readable): Promise<string[]> {
  const names: string[] = [];
  const parser = new Parser();
  parser.on('entry', (e: ReadEntry) => {
    names.push(`${e.type} ${e.path}`);
    e.resume();
  });
  await new Promise<void>((resolve, reject) => {
    parser.on('close', () => resolve());
    parser.on('error', reject);
    stream.pipe(parser);
  });
  return names.sort();
}

t.test('paths resolve inside the root: absolute and climbing symlinks stay in it; a climbing path is refused', async (t) => {
  const { root, host } = world('resolve');
  symlinkSync('/etc', join(root, 'tmp', 'abs'));
  symlinkSync('../../../../../../host', join(root, 'tmp', 'climb'));
  symlinkSync(host, join(root, 'tmp', 'hostpath'));
  t.equal(resolveInRoot(root, '/tmp/abs/passwd'), join(root, 'etc', 'passwd'), 'an absolute target is the container\'s');
  t.equal(resolveInRoot(root, '/tmp/climb/secret'), join(root, 'host', 'secret'), '.. stops at the root');
  t.equal(resolveInRoot(root, '/tmp/hostpath/secret'), join(root, host, 'secret'), 'a host path named by a link is read inside the root');
  t.equal(readInRoot(root, '/tmp/hostpath/secret'), undefined, 'so the host file is not read');
  t.equal(resolveInRoot(root, '/tmp/abs', false), join(root, 'tmp', 'abs'), 'the last link kept when not followed');
  t.throws(() => resolveInRoot(root, '../../etc/passwd'), /leads out of the container's root/);
  t.throws(() => resolveInRoot(root, '/tmp/../../host/secret'), /leads out of the container's root/);
  t.equal(resolveInRoot(root, 'tmp/../etc/passwd'), join(root, 'etc', 'passwd'), 'a .. that stays inside is fine');
  symlinkSync('loop', join(root, 'tmp', 'loop'));
  t.throws(() => resolveInRoot(root, '/tmp/loop/x'), /too many symlinks/);
});

t.test('pack: one top-level entry; symlinks packed as links, never followed', async (t) => {
  const { root } = world('pack');
  writeFileSync(join(root, 'tmp', 'd', 'a.txt'), 'a\n');
  symlinkSync('/etc/passwd', join(root, 'tmp', 'd', 'link'));
  const packed = packFromRoot(root, '/tmp/d');
  t.match(packed, { name: 'd', isDir: true });
  t.same(await entriesOf(packed.stream), ['Directory d/', 'File d/a.txt', 'SymbolicLink d/link']);
  t.throws(() => packFromRoot(root, '/tmp/nothing'), /no such file or directory: \/tmp\/nothing/);
  t.throws(() => packFromRoot(root, '../../etc/passwd'), /leads out of the container's root/);
});

t.test('unpack: into a directory, or as a new name; through symlinks only inside the root', async (t) => {
  const { root, host } = world('unpack');
  const into = await unpackIntoRoot(root, '/tmp', Readable.from(tarOf([{ path: 'x/', type: 'Directory' }, { path: 'x/f', body: 'hello\n' }])));
  t.equal(into, '/tmp');
  t.equal(readFileSync(join(root, 'tmp', 'x', 'f'), 'utf8'), 'hello\n');
  const renamed = await unpackIntoRoot(root, '/tmp/y', Readable.from(tarOf([{ path: 'x/', type: 'Directory' }, { path: 'x/f', body: 'again\n' }])));
  t.equal(renamed, '/tmp/y');
  t.equal(readFileSync(join(root, 'tmp', 'y', 'f'), 'utf8'), 'again\n', 'the top-level entry renamed to the destination');
  await unpackIntoRoot(root, '/tmp/file.txt', Readable.from(tarOf([{ path: 'orig.txt', body: 'one file\n' }])));
  t.equal(readFileSync(join(root, 'tmp', 'file.txt'), 'utf8'), 'one file\n');
  // a running container's root is /proc/PID/root: a symlink to its root directory
  const viaLink = join(root, '..', 'root-link');
  symlinkSync(root, viaLink);
  t.equal(await unpackIntoRoot(viaLink, '/', Readable.from(tarOf([{ path: 'at-root.txt', body: 'top\n' }]))), '/');
  t.equal(readFileSync(join(root, 'at-root.txt'), 'utf8'), 'top\n', 'into / of a root given as a symlink');

  // a container link that points at the host's directory: written inside the root
  symlinkSync(host, join(root, 'tmp', 'evil'));
  await unpackIntoRoot(root, '/tmp/evil', Readable.from(tarOf([{ path: 'secret', body: 'overwritten\n' }])))
    .catch(() => undefined); // no such directory inside the root: refused, or written inside
  t.equal(readFileSync(join(host, 'secret'), 'utf8'), 'host secret\n', 'the host file is untouched');
  // an archive whose symlink is then written through
  await t.rejects(unpackIntoRoot(root, '/tmp', Readable.from(tarOf([
    { path: 'l', type: 'SymbolicLink', linkpath: host },
    { path: 'l/secret', body: 'overwritten\n' },
  ]))));
  t.equal(readFileSync(join(host, 'secret'), 'utf8'), 'host secret\n', 'writing through an archive\'s own link stays inside the root');
  t.equal(readlinkSync(join(root, 'tmp', 'l')), host, 'the link itself is made as it is (the container\'s business)');

  await t.rejects(unpackIntoRoot(root, '/tmp', Readable.from(tarOf([{ path: '../../../host/secret', body: 'x' }]))),
    /the archive entry "..\/..\/..\/host\/secret" climbs out of the destination/);
  await t.rejects(unpackIntoRoot(root, '/tmp', Readable.from(tarOf([{ path: 'ok', body: 'x' }, { path: '/abs', body: 'x' }]))), /is an absolute path/);
  t.equal(readFileSync(join(host, 'secret'), 'utf8'), 'host secret\n');
  t.notOk(existsSync(join(root, 'abs')));
  await t.rejects(unpackIntoRoot(root, '/nowhere/x', Readable.from(tarOf([{ path: 'f', body: 'x' }]))), /no such directory: \/nowhere/);
  await t.rejects(unpackIntoRoot(root, '../../x', Readable.from(tarOf([{ path: 'f', body: 'x' }]))), /leads out of the container's root/);
});

t.test('image defaults merged with -w, -u, --entrypoint, -e in one place', async (t) => {
  const { root } = world('proc');
  const what = 'could not create container "c"';
  const image: ImageDefaults = { entrypoint: ['/entry'], cmd: ['serve', '--port', '80'], env: ['PATH=/bin', 'MODE=prod'], workingDir: '/srv', user: 'app' };
  const req = (r: Partial<RunRequest>): RunRequest => ({ image: 'x', ...r });
  t.match(processConfig(image, req({}), root, what, false), { args: ['/entry', 'serve', '--port', '80'], env: ['PATH=/bin', 'MODE=prod'], cwd: '/srv', user: { uid: 1000, gid: 1000 } });
  t.match(processConfig(image, req({ cmd: ['sh'] }), root, what, false), { args: ['/entry', 'sh'] }, 'a command replaces Cmd, keeps Entrypoint');
  t.match(processConfig(image, req({ entrypoint: ['/bin/echo'] }), root, what, false), { args: ['/bin/echo'] }, '--entrypoint drops the image\'s Cmd');
  t.match(processConfig(image, req({ entrypoint: [], cmd: ['id'] }), root, what, false), { args: ['id'] }, '--entrypoint "" clears it');
  t.match(processConfig(image, req({ workdir: '/tmp', user: 'nobody', env: ['MODE=dev'] }), root, what, false),
    { cwd: '/tmp', user: { uid: 65534, gid: 65534, spec: 'nobody' }, env: ['PATH=/bin', 'MODE=dev'] });
  t.match(processConfig(BUSYBOX_DEFAULTS, req({ detach: true }), root, what, true), { args: KEEP_ALIVE, cwd: '/', user: { uid: 0, gid: 0 } }, 'busybox -d stays up');
  t.match(processConfig(BUSYBOX_DEFAULTS, req({ detach: true, tty: true }), root, what, true), { args: ['sh'] }, 'with a terminal: sh');
  t.match(processConfig(BUSYBOX_DEFAULTS, req({ user: '1234:50' }), root, what, true), { user: { uid: 1234, gid: 50 } });
  t.match(processConfig(BUSYBOX_DEFAULTS, req({ user: 'app:staff' }), root, what, true), { user: { uid: 1000, gid: 50 } });
  t.throws(() => processConfig(BUSYBOX_DEFAULTS, req({ user: 'ghost' }), root, what, true), /^could not create container "c": invalid user \(-u\) "ghost": no user "ghost" in the image's \/etc\/passwd$/);
  t.throws(() => processConfig(BUSYBOX_DEFAULTS, req({ user: 'app:nogroup' }), root, what, true), /no group "nogroup"/);
  t.throws(() => processConfig(BUSYBOX_DEFAULTS, req({ user: 'a:b:c' }), root, what, true), /expected USER\[:GROUP\]/);
  t.throws(() => processConfig(BUSYBOX_DEFAULTS, req({ workdir: 'tmp' }), root, what, true), /the working directory \(-w\) "tmp" is not an absolute path/);
  t.throws(() => processConfig({ ...BUSYBOX_DEFAULTS, cmd: [] }, req({}), root, what, true), /no command/);
  t.same(mergeEnv(['A=1', 'B=2'], ['B=3', 'C=4']), ['A=1', 'B=3', 'C=4']);
});

t.test('log times: each line stamped with the first growth that took it in; --since filters; unfinished lines wait', async (t) => {
  const times: Array<[number, number]> = [[6, 1000], [12, 2000], [18, 3000]];
  t.equal(timeOfOffset(times, 0), 1000);
  t.equal(timeOfOffset(times, 6), 2000);
  t.equal(timeOfOffset(times, 17), 3000);
  t.equal(timeOfOffset(times, 18, 9999), 9999, 'not seen yet: now');
  const data = Buffer.from('line1\nline2\nline3\npart');
  const all = stampLines(data, 0, times, { timestamps: true, final: false });
  t.equal(all.text.toString(), '1970-01-01T00:00:01.000Z line1\n1970-01-01T00:00:02.000Z line2\n1970-01-01T00:00:03.000Z line3\n');
  t.equal(all.used, 18, 'the unfinished line is left');
  const since = stampLines(data, 0, times, { timestamps: false, sinceMs: 2000, final: true });
  t.match(since.text.toString(), /^line2\nline3\npart$/);
  t.equal(since.used, data.length);
});
