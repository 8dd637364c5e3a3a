/**
 * The overlayfs of a loaded image's container on the real kernel (root): layers from a
 * real load (whiteouts by the native addon) as lowerdirs, a writable upper of its own;
 * what the container sees is the image with the top layer's deletions applied.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import t from 'tap';
import { createLogger } from '@vxnet/common';
import { MNT_DETACH, namespaceSupportMissing, native } from '@vxnet/netns';
import { isMountPoint, kernelMounter, overlayOptions } from '../src/container/rootfs-mount.js';
import { KERNEL_WHITEOUTS } from '../src/image/images.js';
import { LoadedImages } from '../src/image/image-store.js';
import { dockerSave, tarOf } from './helpers/tar.js';

t.test('overlayfs options: top layer first, refused when they cannot be written', async (t) => {
  t.equal(overlayOptions(['/l/1', '/l/2'], '/c/u', '/c/w'), 'lowerdir=/l/2:/l/1,upperdir=/c/u,workdir=/c/w');
  t.throws(() => overlayOptions(['/l/a:b'], '/u', '/w'), /holds a "," ":" or "\\"/);
  t.throws(() => overlayOptions(Array.from({ length: 60 }, (_, i) => `/var/lib/vxnet/engine/images/layers/${String(i).padStart(64, '0')}`), '/u', '/w'), /too many layers for one overlayfs mount \(60/);
  t.ok(isMountPoint('/a b', '36 35 98:0 / /a\\040b rw - ext4 x rw\n'), 'mountinfo escapes');
  t.notOk(isMountPoint('/a', '36 35 98:0 / /a/b rw - ext4 x rw\n'));
});

t.test('a container\'s view of a loaded image, on the real kernel', { skip: namespaceSupportMissing() }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vx-rootfs-'));
  const mounter = kernelMounter(native(), MNT_DETACH);
  const target = join(dir, 'c', 'rootfs');
  t.teardown(() => {
    try {
      mounter.release(target);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
  const store = new LoadedImages({ dir: join(dir, 'images'), whiteouts: KERNEL_WHITEOUTS, log: createLogger({ name: 't', level: 'silent' }) });
  store.open();
  const base = tarOf([{ path: 'etc/' }, { path: 'etc/motd', body: 'old' }, { path: 'etc/keep', body: 'k' }, { path: 'var/' }, { path: 'var/c/' }, { path: 'var/c/old', body: 'o' }]);
  const top = tarOf([{ path: 'etc/' }, { path: 'etc/.wh.motd', body: '' }, { path: 'var/' }, { path: 'var/c/' }, { path: 'var/c/.wh..wh..opq', body: '' }, { path: 'var/c/new', body: 'n' }]);
  const [img] = await store.load(Readable.from([dockerSave([base, top], ['v:1'], { Cmd: ['x'] })]));
  for (const d of ['rootfs', 'upper', 'work']) mkdirSync(join(dir, 'c', d), { recursive: true });
  const layers = img!.layers.map((d) => store.layerDir(d));
  mounter.ensure(layers, join(dir, 'c', 'upper'), join(dir, 'c', 'work'), target);
  mounter.ensure(layers, join(dir, 'c', 'upper'), join(dir, 'c', 'work'), target);
  t.ok(isMountPoint(target), 'mounted (once: ensure is idempotent)');
  t.same(readdirSync(join(target, 'etc')).sort(), ['keep'], '.wh.motd hides the base layer\'s motd');
  t.same(readdirSync(join(target, 'var/c')), ['new'], 'the opaque dir hides the base layer\'s contents');
  writeFileSync(join(target, 'etc', 'written'), 'w');
  rmSync(join(target, 'etc', 'keep'));
  t.equal(readFileSync(join(dir, 'c', 'upper', 'etc', 'written'), 'utf8'), 'w', 'writes go to the upper dir');
  t.ok(existsSync(join(layers[0]!, 'etc', 'keep')), 'the image layer is untouched by a delete');
  mounter.release(target);
  mounter.release(target);
  t.notOk(isMountPoint(target), 'unmounted (release is idempotent)');
});
