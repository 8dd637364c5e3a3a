import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import t, { type Test } from 'tap';
import { createLogger } from '@vxnet/common';
import { LoadedImages } from '../src/image/image-store.js';
import { dockerSave, gzip, ociLayout, sha256, tarOf } from './helpers/tar.js';

const log = createLogger({ name: 'test', level: 'silent' });

function store(t: Test) {
  const dir = mkdtempSync(join(tmpdir(), 'vx-images-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const calls: string[] = [];
  const s = new LoadedImages({
    dir, log,
    whiteouts: { whiteout: (p) => void (writeFileSync(p, ''), calls.push(`wh ${p.slice(dir.length)}`)), opaque: (d) => void calls.push(`opq ${d.slice(dir.length)}`) },
  });
  s.open();
  /** Everything in the store but the committed images and layers: must stay empty. */
  const leftovers = () => readdirSync(join(dir, 'tmp'));
  return { dir, s, calls, leftovers, layers: () => readdirSync(join(dir, 'layers')).sort() };
}

const base = tarOf([{ path: 'bin/' }, { path: 'bin/app', body: 'v1', mode: 0o755 }, { path: 'etc/' }, { path: 'etc/motd', body: 'hello' }, { path: 'var/' }, { path: 'var/x', body: 'x' }]);
const top = tarOf([{ path: 'etc/' }, { path: 'etc/.wh.motd', body: '' }, { path: 'var/' }, { path: 'var/.wh..wh..opq', body: '' }, { path: 'etc/new', body: 'n' }]);
const config = { Cmd: ['/bin/app'], Env: ['A=1'], WorkingDir: '/srv', ExposedPorts: { '7/tcp': {} } };
const load = (s: LoadedImages, archive: Buffer) => s.load(Readable.from([archive]));

t.test('docker save: layers unpacked once, whiteouts applied, record written, tags resolve', async (t) => {
  const { dir, s, calls, leftovers, layers } = store(t);
  const [img] = await load(s, dockerSave([base, top], ['app:1'], config));
  t.equal(img?.id, sha256(JSON.stringify({ architecture: 'amd64', os: 'linux', created: '2026-01-01T00:00:00Z', config, rootfs: { type: 'layers', diff_ids: [sha256(base), sha256(top)] } })));
  t.same(img?.tags, ['app:1']);
  t.same(img?.layers, [sha256(base), sha256(top)]);
  t.same(img?.config, { entrypoint: [], cmd: ['/bin/app'], env: ['A=1'], workingDir: '/srv', user: '', exposedPorts: ['7/tcp'] });
  t.same(layers(), [sha256(base).slice(7), sha256(top).slice(7)].sort());
  t.equal(readFileSync(join(s.layerDir(sha256(base)), 'etc/motd'), 'utf8'), 'hello');
  t.match(calls, [/^wh \/tmp\/load-[^/]+\/layer-\d\/etc\/motd$/, /^opq \/tmp\/load-[^/]+\/layer-\d\/var$/], 'whiteouts made before the layer is committed');
  t.ok(existsSync(join(s.layerDir(sha256(top)), 'etc/motd')), 'the whiteout is in the top layer');
  t.notOk(existsSync(join(s.layerDir(sha256(base)), 'etc/.wh.motd')));
  t.same(leftovers(), []);
  t.equal(s.find('app:1')?.id, img?.id);
  t.equal(s.find(img!.id.slice(7, 12))?.id, img?.id, 'id prefix');
  t.equal(s.find(img!.id)?.id, img?.id, 'full id');
  t.equal(s.find('app'), undefined, 'app means app:latest');
  t.ok(existsSync(join(dir, 'images', `${img!.id.slice(7)}.json`)));

  // a second image sharing the base layer: the base is not unpacked again
  calls.length = 0;
  const [two] = await load(s, dockerSave([base], ['base'], { Cmd: ['sh'] }));
  t.same(two?.tags, ['base:latest']);
  t.equal(layers().length, 2, 'no new layer');
  // the store reopens to the same images
  const again = new LoadedImages({ dir, log, whiteouts: { whiteout: () => undefined, opaque: () => undefined } });
  again.open();
  t.same(again.list().map((i) => i.id).sort(), [img!.id, two!.id].sort());
});

t.test('OCI layout with gzipped layers; a tag moves to the newer image; rm untags, refuses in use, removes unshared layers', async (t) => {
  const { s, layers, leftovers } = store(t);
  const [a] = await load(s, ociLayout([gzip(base), gzip(top)], [sha256(base), sha256(top)], 'web:1', config));
  t.same(a?.tags, ['web:1']);
  const [b] = await load(s, ociLayout([gzip(base)], [sha256(base)], 'web:1', { Cmd: ['x'] }));
  t.same(s.find(a!.id)?.tags, [], 'the tag moved off the older image');
  t.same(b?.tags, ['web:1']);
  await t.rejects(s.remove('web:1', () => ['"c1"']), /could not remove image "web:1": it is used by container "c1"/);
  t.ok(s.find('web:1'), 'still there');
  await s.remove(a!.id, () => []);
  t.same(layers(), [sha256(base).slice(7)], 'the layer only the removed image had is gone, the shared one stays');
  await load(s, dockerSave([base], ['web:2', 'web:3'], { Cmd: ['y'] }));
  const r = await s.remove('web:2', () => ['"busy"']);
  t.same(r, { id: s.find('web:3')!.id, untagged: ['web:2'], deleted: false }, 'a tag of several is just untagged');
  await t.rejects(s.remove('nope', () => []), /no such image/);
  t.same(leftovers(), []);
});

const bad: Array<[string, () => Buffer, RegExp]> = [
  ['a corrupt tarball', () => { const b = Buffer.from(dockerSave([base], ['x'])); b.write('garbage!', 148); return b; }, /the archive: it is corrupt|not a tar/],
  ['a truncated gzip', () => gzip(dockerSave([base], ['x'])).subarray(0, 200), /gzip stream is corrupt or cut short/],
  ['neither format', () => tarOf([{ path: 'hello', body: 'x' }]), /neither a docker save tarball .* nor an OCI image layout/],
  ['a missing layer', () => tarOf([{ path: 'manifest.json', body: JSON.stringify([{ Config: 'c.json', RepoTags: ['x:1'], Layers: ['gone/layer.tar'] }]) }, { path: 'c.json', body: '{}' }]), /layer gone\/layer.tar is missing from the archive/],
  ['a layer that is not what the config says', () => dockerSave([base], ['x'], {}, { diffIds: [sha256('other')] }), /layer 1 unpacks to sha256:[0-9a-f]+, not sha256:[0-9a-f]+ as its config says/],
  ['an OCI blob whose digest does not match', () => ociLayout([gzip(base)], [sha256(base)], 'x').fill(0x41, 3000, 3010), /./],
  ['a config with a bad Cmd', () => dockerSave([base], ['x'], { Cmd: 'sh -c boom' }), /image x:1|image x:latest|its Cmd is not a list of strings/],
  ['a layer with ../../etc/passwd', () => dockerSave([tarOf([{ path: '../../etc/passwd', body: 'root::0:0::/:/bin/sh' }])], ['x']), /layer 1 \(sha256:[0-9a-f]+…\): entry "\.\.\/\.\.\/etc\/passwd" climbs out/],
  ['a layer writing through a symlink', () => dockerSave([tarOf([{ path: 'e', type: 'SymbolicLink', linkpath: '/etc' }, { path: 'e/passwd', body: 'x' }])], ['x']), /through the symlink "e"/],
  ['an archive entry climbing out', () => tarOf([{ path: '../escape', body: 'x' }]), /the archive: entry "\.\.\/escape" climbs out/],
  ['a manifest naming a file outside', () => tarOf([{ path: 'manifest.json', body: JSON.stringify([{ Config: '../../../etc/hostname', Layers: [] }]) }]), /climbs out with/],
  ['a manifest naming a symlink outside', () => tarOf([{ path: 'c', type: 'SymbolicLink', linkpath: '/etc/hostname' }, { path: 'manifest.json', body: JSON.stringify([{ Config: 'c', Layers: [] }]) }]), /points outside the archive/],
];
for (const [what, make, message] of bad) {
  t.test(`refused: ${what}; nothing stored`, async (t) => {
    const { s, layers, leftovers, dir } = store(t);
    await t.rejects(load(s, make()), message);
    const err = await load(s, make()).catch((e: Error) => e);
    t.match(String((err as Error).message), /^could not load image: .*; nothing was stored$/);
    t.notOk(String((err as Error).message).includes('\n'), 'one line');
    t.same(s.list(), []);
    t.same(layers(), []);
    t.same(leftovers(), []);
    t.same(readdirSync(join(dir, 'images')), []);
    await sleep(100);
    t.same(leftovers(), [], 'and nothing appears later (no write still in flight)');
  });
}

t.test('open() removes what a crash left: tmp loads and layers no image names', async (t) => {
  const { dir, s } = store(t);
  await load(s, dockerSave([base], ['keep']));
  mkdirSync(join(dir, 'tmp', 'load-crashed', 'archive'), { recursive: true });
  mkdirSync(join(dir, 'layers', 'f'.repeat(64)));
  const again = new LoadedImages({ dir, log, whiteouts: { whiteout: () => undefined, opaque: () => undefined } });
  again.open();
  t.same(readdirSync(join(dir, 'tmp')), []);
  t.same(readdirSync(join(dir, 'layers')), [sha256(base).slice(7)]);
  writeFileSync(join(dir, 'images', `${'e'.repeat(64)}.json`), '{broken');
  t.throws(() => new LoadedImages({ dir, log, whiteouts: { whiteout: () => undefined, opaque: () => undefined } }).open(), /could not read image record .*nothing was removed/);
  t.same(readdirSync(join(dir, 'layers')), [sha256(base).slice(7)], 'an unreadable record stops the sweep');
});

t.test('a layer already in the store is still checked against the archive\'s digests', async (t) => {
  const { s, leftovers } = store(t);
  await load(s, ociLayout([gzip(base)], [sha256(base)], 'good'));
  const tampered = ociLayout([gzip(base)], [sha256(base)], 'bad');
  // the layer blob, same name (its digest), other content: the OCI tar holds it last
  const blobAt = tampered.lastIndexOf(gzip(base));
  const evil = Buffer.from(tampered);
  gzip(top).copy(evil, blobAt, 0, Math.min(gzip(top).length, gzip(base).length));
  await t.rejects(load(s, evil), /could not load image: (image bad:latest: layer 1 has digest sha256:[0-9a-f]+, not sha256:[0-9a-f]+ as its manifest says|.*gzip)/);
  t.same(s.list().map((i) => i.tags), [['good:latest']]);
  t.same(leftovers(), []);
  await t.rejects(load(s, dockerSave([top], ['liar'], {}, { diffIds: [sha256(base)] })), /layer 1 unpacks to sha256:[0-9a-f]+, not sha256:[0-9a-f]+ as its config says/, 'a docker save layer.tar too');
});

t.test('loadFrom (pull): a filled layout is loaded; a fill that fails midway leaves nothing, in tmp/ or stored', async (t) => {
  const { dir, s, leftovers, layers } = store(t);
  const broken = s.loadFrom(async (d) => {
    writeFileSync(join(d, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
    mkdirSync(join(d, 'blobs/sha256'), { recursive: true });
    writeFileSync(join(d, 'blobs/sha256/partial'), 'half a blob');
    throw new Error('connection reset');
  });
  await t.rejects(broken, { message: 'connection reset' });
  t.same(leftovers(), []);
  t.same(layers(), []);
  t.same(s.list(), []);
  // a good one: the unpacked OCI layout of the tar helper
  const archive = ociLayout([gzip(base)], [sha256(base)], 'pulled:1', config);
  const [img] = await s.loadFrom(async (d) => {
    const { unpackTar } = await import('../src/image/tar-unpack.js');
    await unpackTar(Readable.from([archive]), d, { layer: false });
  });
  t.same(img?.tags, ['pulled:1']);
  t.same(leftovers(), []);
  t.ok(existsSync(join(dir, 'layers', sha256(base).slice(7))));
});
