import { existsSync, lstatSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { KERNEL_WHITEOUTS } from '../src/image/images.js';
import { applyWhiteouts, type WhiteoutOps } from '../src/image/whiteouts.js';
import { namespaceSupportMissing } from '@vxnet/netns';

function recorder(): WhiteoutOps & { calls: string[] } {
  const calls: string[] = [];
  return { calls, whiteout: (p) => void calls.push(`wh ${p}`), opaque: (d) => void calls.push(`opq ${d}`) };
}

t.test('a whiteout per deleted path, opaque dirs, parents made; paths the layer holds are left', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'vx-wh-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  mkdirSync(join(root, 'etc'));
  writeFileSync(join(root, 'etc', 'kept'), 'x');
  const ops = recorder();
  applyWhiteouts(root, ['etc/motd', 'etc/kept', 'usr/share/doc'], ['var/cache', ''], ops);
  t.same(ops.calls, [`wh ${root}/etc/motd`, `wh ${root}/usr/share/doc`, `opq ${root}/var/cache`, `opq ${root}`]);
  t.ok(lstatSync(join(root, 'usr/share')).isDirectory(), 'missing parents made');
});

t.test('never through a symlink', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'vx-wh-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  symlinkSync('/etc', join(root, 'etc'));
  t.throws(() => applyWhiteouts(root, ['etc/passwd'], [], recorder()), /not a directory/);
  t.throws(() => applyWhiteouts(root, [], ['etc'], recorder()), /not a directory/);
});

t.test('the real thing: a 0/0 character device and trusted.overlay.opaque', { skip: namespaceSupportMissing() }, async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'vx-wh-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  applyWhiteouts(root, ['gone'], ['d'], KERNEL_WHITEOUTS);
  const st = lstatSync(join(root, 'gone'));
  t.ok(st.isCharacterDevice());
  t.equal(st.rdev, 0);
  t.ok(existsSync(join(root, 'd')));
});
