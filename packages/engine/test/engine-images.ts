/**
 * The Engine with loaded images, on fakes (runtime, agent, sandboxes, mounts) and a
 * real image store: the image config becomes the process, the container gets its
 * overlay (layers top first) before it starts and loses it on rm and on a failed run,
 * and an image is not removed while a container uses it.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import t, { type Test } from 'tap';
import { createLogger } from '@vxnet/common';
import { Engine } from '../src/engine.js';
import { ImageStore } from '../src/image/images.js';
import type { RootfsMounter } from '../src/container/rootfs-mount.js';
import { containerFiles } from '../src/state/container-record.js';
import type { OciSpec } from '../src/runtime/oci-spec.js';
import { FakeAgent, FakeRuntime, FakeSandboxes } from './helpers/fakes.js';
import { dockerSave, sha256, tarOf } from './helpers/tar.js';

class FakeMounts implements RootfsMounter {
  readonly mounted = new Map<string, string[]>();
  failNext = false;
  ensure(layerDirs: readonly string[], _upper: string, _work: string, target: string): void {
    if (this.failNext) {
      this.failNext = false;
      throw new Error('fake: mount: ENODEV');
    }
    // what the kernel would show: the image's /etc/passwd, for -u names
    mkdirSync(join(target, 'etc'), { recursive: true });
    writeFileSync(join(target, 'etc', 'passwd'), 'root:x:0:0::/root:/bin/sh\napp:x:1000:1001::/srv:/bin/sh\n');
    this.mounted.set(target, [...layerDirs]);
  }
  release(target: string): void {
    this.mounted.delete(target);
  }
}

const layer1 = tarOf([{ path: 'bin/' }, { path: 'bin/app', body: 'v1', mode: 0o755 }]);
const layer2 = tarOf([{ path: 'srv/' }, { path: 'srv/data', body: 'd' }]);

async function rig(t: Test) {
  const dir = mkdtempSync(join(tmpdir(), 'vxnet-engine-images-'));
  const log = createLogger({ name: 'test', level: 'silent' });
  const stateDir = join(dir, 'state');
  const images = new ImageStore({ dir: join(dir, 'images'), busybox: '/bin/busybox', log, whiteouts: { whiteout: () => undefined, opaque: () => undefined } });
  images.loaded.open();
  const runc = new FakeRuntime();
  const mounts = new FakeMounts();
  const engine = new Engine({ host: 'h1', stateDir, runc, agent: new FakeAgent(), sandboxes: new FakeSandboxes(), log, images, mounts, agentPollMs: 10 });
  await engine.load();
  t.teardown(async () => {
    // removed first: a container whose process dies after rm -rf would have its record written again
    for (const c of engine.list(true)) await engine.remove(c.id, true);
    engine.close();
    runc.killAll();
    rmSync(dir, { recursive: true, force: true });
  });
  await engine.loadImages(Readable.from([dockerSave([layer1, layer2], ['app:1'], { Entrypoint: ['/bin/app'], Cmd: ['--serve'], Env: ['MODE=prod', 'PATH=/bin'], WorkingDir: '/srv', User: 'app' })]));
  const spec = (id: string) => JSON.parse(readFileSync(containerFiles(stateDir, id).config, 'utf8')) as OciSpec;
  return { dir, stateDir, engine, images, mounts, runc, spec };
}

t.test('run of a loaded image: the config is the process, on its own overlay', async (t) => {
  const r = await rig(t);
  const c = await r.engine.run({ name: 'web', image: 'app:1', detach: true, env: ['MODE=dev'] });
  const files = containerFiles(r.stateDir, c.id);
  t.same(r.mounts.mounted.get(files.rootfs), [r.images.loaded.layerDir(sha256(layer1)), r.images.loaded.layerDir(sha256(layer2))], 'layers bottom first (the mounter reverses them)');
  const s = r.spec(c.id);
  t.same(s.process.args, ['/bin/app', '--serve']);
  t.same(s.process.env.filter((e) => !e.startsWith('HOSTNAME=')), ['MODE=dev', 'PATH=/bin'], 'the request overrides the image env by key');
  t.equal(s.process.cwd, '/srv');
  t.same(s.process.user, { uid: 1000, gid: 1001 }, 'User "app" from the image\'s /etc/passwd');
  t.same(s.root, { path: files.rootfs, readonly: false });
  t.equal(c.image, 'app:1');
  t.same(r.engine.inspect('web').command, ['/bin/app', '--serve']);

  const cmd = await r.engine.run({ name: 'one', image: r.images.loaded.find('app:1')!.id.slice(7, 17), detach: true, cmd: ['--once'] });
  t.same(r.spec(cmd.id).process.args, ['/bin/app', '--once'], 'by id prefix; a command replaces Cmd, not Entrypoint');
});

t.test('image rm is refused while a container (running or not) uses it; rm of the container unmounts', async (t) => {
  const r = await rig(t);
  const c = await r.engine.run({ name: 'web', image: 'app:1', detach: true });
  await t.rejects(r.engine.removeImage('app:1'), /could not remove image "app:1": it is used by container "web"/);
  await r.engine.stop('web', 0);
  await t.rejects(r.engine.removeImage('app:1'), { code: 'VXNET_IMAGE_IN_USE' });
  await r.engine.start('web');
  t.ok(r.mounts.mounted.has(containerFiles(r.stateDir, c.id).rootfs), 'start mounts (again, if it was gone)');
  await r.engine.remove('web', true);
  t.equal(r.mounts.mounted.size, 0, 'unmounted with the container');
  const res = await r.engine.removeImage('app:1');
  t.equal(res.deleted, true);
  t.same(r.engine.images().map((i) => i.id), ['builtin:busybox']);
});

t.test('a failed run leaves no mount and no directory; bad user and missing command refused', async (t) => {
  const r = await rig(t);
  r.runc.failNextRun = true;
  await t.rejects(r.engine.run({ name: 'web', image: 'app:1', detach: true }), /could not start container "web"/);
  t.equal(r.mounts.mounted.size, 0);
  r.mounts.failNext = true;
  await t.rejects(r.engine.run({ name: 'web', image: 'app:1', detach: true }), /could not mount the root file system of container "web": fake: mount: ENODEV/);
  await r.engine.loadImages(Readable.from([dockerSave([layer1], ['nouser'], { Cmd: ['/bin/app'], User: 'ghost' })]));
  await t.rejects(r.engine.run({ name: 'u', image: 'nouser', detach: true }), /^could not create container "u": invalid user \(the image's User\) "ghost": no user "ghost" in the image's \/etc\/passwd$/);
  await r.engine.loadImages(Readable.from([dockerSave([layer1], ['nocmd'], {})]));
  await t.rejects(r.engine.run({ name: 'n', image: 'nocmd', detach: true }), /^could not create container "n": no command: the image has none, give one \(or --entrypoint\)$/);
  await t.rejects(r.engine.run({ name: 'x', image: 'nosuch:9', detach: true }), /no image "nosuch:9" \(images: busybox, .*app:1.*; load one with `vxnet image load -i FILE`/);
  t.equal(r.mounts.mounted.size, 0);
  t.same(r.engine.list(true), []);
});
