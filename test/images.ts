/**
 * Images end to end, in a 2-host lab on real runc, overlayfs and the kernel: images
 * built here with GNU tar (busybox-static as the program, a second layer with a
 * whiteout and an opaque directory), in docker save and OCI layout form, loaded on
 * both hosts (`vxnet image load`), run on each host on one overlay network, one
 * reached from the other by name; the image config honoured (Cmd, Env, WorkingDir,
 * User); each container's writes in its own layer, gone with it; `image rm` refused
 * while a container uses the image; every bad archive refused with one line and
 * nothing written (the host's image store and the test's victim paths compared
 * before and after).
 */
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, linkSync, lstatSync, mkdirSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { gzipSync } from 'node:zlib';
import { Header } from 'tar';
import { isRoot, setupFailure, tempHome, uniqueLabName, vxnet } from './helpers/cli.js';
import { until } from './helpers/wait.js';

const sha256 = (b: Buffer | string) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const hex = (d: string) => d.slice('sha256:'.length);

/** GNU tar of directory `dir`'s contents, root-owned, entries as `./x`. */
function tarDir(dir: string, out: string, extra: string[] = []): Buffer {
  execFileSync('tar', ['--numeric-owner', '--owner=0', '--group=0', '--sort=name', '-C', dir, '-cf', out, ...extra, '.']);
  return readFileSync(out);
}

/** A tar of one hard link entry `path` -> `target`, as no file system can hold it. */
function hardLinkTar(path: string, target: string): Buffer {
  const block = Buffer.alloc(512);
  new Header({ path, type: 'Link', linkpath: target, size: 0, mode: 0o644, uid: 0, gid: 0, mtime: new Date() }).encode(block, 0);
  return Buffer.concat([block, Buffer.alloc(1024)]);
}

/** Every path under `dir` with its size (what a store holds), for before/after comparisons. */
function tree(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      const st = lstatSync(p);
      out.push(`${relative(dir, p)} ${st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'link' : st.size}`);
      if (st.isDirectory()) walk(p);
    }
  };
  if (existsSync(dir)) walk(dir);
  return out;
}

if (!isRoot) {
  t.plan(0, 'skip: image tests need root (runc, overlayfs, namespaces)');
} else {
  const { home, cleanup } = tempHome('images');
  const env = { VXNET_HOME: home };
  const lab = uniqueLabName('img');
  const work = join(home, 'build');
  const victim = join(home, 'victim');
  t.teardown(async () => {
    await vxnet(['lab', 'down', '--name', lab], env);
    cleanup();
  });

  // ---- the images, built with tar ---------------------------------------------
  mkdirSync(work, { recursive: true });
  const l1 = join(work, 'l1');
  for (const d of ['bin', 'etc', 'srv', 'tmp', 'var/cache', 'proc', 'sys', 'dev', 'root']) mkdirSync(join(l1, d), { recursive: true });
  copyFileSync('/bin/busybox', join(l1, 'bin/busybox'));
  chmodSync(join(l1, 'bin/busybox'), 0o755);
  for (const a of ['sh', 'nc', 'ping', 'cat', 'ls', 'sleep', 'echo', 'id', 'pwd', 'env']) symlinkSync('/bin/busybox', join(l1, 'bin', a));
  linkSync(join(l1, 'bin/busybox'), join(l1, 'bin/hostname'));
  writeFileSync(join(l1, 'bin/echo-once'), '#!/bin/sh\nread line\necho "echo:$line"\n', { mode: 0o755 });
  writeFileSync(join(l1, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/srv:/bin/sh\n');
  writeFileSync(join(l1, 'etc/group'), 'root:x:0:\napp:x:1000:\n');
  writeFileSync(join(l1, 'etc/motd'), 'from the base layer\n');
  writeFileSync(join(l1, 'var/cache/old'), 'old\n');
  const l2 = join(work, 'l2');
  mkdirSync(join(l2, 'etc'), { recursive: true });
  mkdirSync(join(l2, 'var/cache'), { recursive: true });
  mkdirSync(join(l2, 'srv'), { recursive: true });
  writeFileSync(join(l2, 'etc/.wh.motd'), '');
  writeFileSync(join(l2, 'var/cache/.wh..wh..opq'), '');
  writeFileSync(join(l2, 'var/cache/new'), 'new\n');
  writeFileSync(join(l2, 'srv/hello'), 'hello from layer 2\n');
  const layer1 = tarDir(l1, join(work, 'layer1.tar'));
  const layer2 = tarDir(l2, join(work, 'layer2.tar'));
  const configOf = (config: Record<string, unknown>, diffIds = [sha256(layer1), sha256(layer2)]) =>
    Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', created: '2026-11-29T00:00:00Z', config, rootfs: { type: 'layers', diff_ids: diffIds } }));
  const SERVER = { Cmd: ['nc', '-ll', '-p', '7', '-e', '/bin/echo-once'], Env: ['PATH=/bin'], ExposedPorts: { '7/tcp': {} } };
  const CLIENT = { Cmd: ['sh', '-c', 'id -u; pwd; echo "$GREETING"; cat /srv/hello; ls /etc; ls /var/cache'], Env: ['PATH=/bin', 'GREETING=hi there'], WorkingDir: '/srv', User: 'app' };

  /** A docker save directory, tarred to `<name>.tar`; `edit` may change it before. */
  const dockerSave = (name: string, config: Record<string, unknown>, tags: string[], edit: (dir: string, manifest: Array<Record<string, unknown>>) => void = () => undefined) => {
    const dir = join(work, name);
    const cfg = configOf(config);
    mkdirSync(join(dir, 'l1'), { recursive: true });
    mkdirSync(join(dir, 'l2'), { recursive: true });
    copyFileSync(join(work, 'layer1.tar'), join(dir, 'l1/layer.tar'));
    copyFileSync(join(work, 'layer2.tar'), join(dir, 'l2/layer.tar'));
    writeFileSync(join(dir, `${hex(sha256(cfg))}.json`), cfg);
    const manifest = [{ Config: `${hex(sha256(cfg))}.json`, RepoTags: tags, Layers: ['l1/layer.tar', 'l2/layer.tar'] }];
    edit(dir, manifest);
    writeFileSync(join(dir, 'manifest.json'), JSON.stringify(manifest));
    tarDir(dir, join(work, `${name}.tar`));
    return join(work, `${name}.tar`);
  };
  /** An OCI image layout directory with gzipped layers (and its tar). */
  const ociLayout = (name: string, config: Record<string, unknown>, ref: string) => {
    const dir = join(work, name);
    mkdirSync(join(dir, 'blobs/sha256'), { recursive: true });
    const blob = (b: Buffer) => {
      writeFileSync(join(dir, 'blobs/sha256', hex(sha256(b))), b);
      return { digest: sha256(b), size: b.length };
    };
    const cfg = configOf(config);
    const layers = [gzipSync(layer1), gzipSync(layer2)].map((l) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', ...blob(l) }));
    const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...blob(cfg) }, layers }));
    const m = blob(manifest);
    writeFileSync(join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', ...m, annotations: { 'org.opencontainers.image.ref.name': ref } }] }));
    writeFileSync(join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
    tarDir(dir, join(work, `${name}.tar`));
    return { dir, tar: join(work, `${name}.tar`), layers };
  };
  const dockerTar = dockerSave('docker', SERVER, ['vxdemo:docker']);
  const oci = ociLayout('oci', CLIENT, 'vxdemo:oci');

  // bad archives: each must be refused with its own reason and leave nothing behind
  const evilLayer = (name: string, build: (dir: string) => string[]) => {
    const dir = join(work, `evil-${name}`);
    mkdirSync(dir, { recursive: true });
    const args = build(dir);
    execFileSync('tar', ['--numeric-owner', '--owner=0', '--group=0', '-P', '-C', dir, '-cf', join(work, `evil-${name}.tar`), ...args]);
    return readFileSync(join(work, `evil-${name}.tar`));
  };
  const withLayer = (name: string, layer: Buffer) => dockerSave(`bad-${name}`, SERVER, [`evil:${name}`], (dir, manifest) => {
    writeFileSync(join(dir, 'l2/layer.tar'), layer);
    const cfg = configOf(SERVER, [sha256(layer1), sha256(layer)]);
    rmSync(join(dir, manifest[0]!.Config as string));
    writeFileSync(join(dir, `${hex(sha256(cfg))}.json`), cfg);
    manifest[0]!.Config = `${hex(sha256(cfg))}.json`;
  });
  const deep = '../'.repeat(40);
  const victimRel = victim.slice(1);
  const bad: Array<[string, string, RegExp]> = [
    ['a corrupt tarball', (() => {
      const b = readFileSync(dockerTar);
      writeFileSync(join(work, 'corrupt.tar'), Buffer.concat([b.subarray(0, 700), Buffer.alloc(300, 0x5a), b.subarray(1000)]));
      return join(work, 'corrupt.tar');
    })(), /^vxnet: could not load image: the archive: it is corrupt .*; nothing was stored$/],
    ['a missing layer', dockerSave('bad-missing', SERVER, ['evil:missing'], (dir, manifest) => {
      rmSync(join(dir, 'l2'), { recursive: true });
      manifest[0]!.Layers = ['l1/layer.tar', 'l2/layer.tar'];
    }), /^vxnet: could not load image: layer l2\/layer.tar is missing from the archive \(l2\/layer.tar\); nothing was stored$/],
    ['a digest mismatch', (() => {
      const o = ociLayout('bad-digest', CLIENT, 'evil:digest');
      const blob = join(o.dir, 'blobs/sha256', hex(o.layers[1]!.digest));
      writeFileSync(blob, gzipSync(layer1));
      tarDir(o.dir, o.tar);
      return o.tar;
    })(), /^vxnet: could not load image: image evil:digest: layer 2 has digest sha256:[0-9a-f]{64}, not sha256:[0-9a-f]{64} as its manifest says; nothing was stored$/],
    ['a config with a bad Cmd', dockerSave('bad-cmd', { ...SERVER, Cmd: 'nc -ll -p 7' }, ['evil:cmd']), /^vxnet: could not load image: image evil:cmd: its Cmd is not a list of strings .*; nothing was stored$/],
    ['../ in a layer', withLayer('dotdot', evilLayer('dotdot', (d) => {
      writeFileSync(join(d, 'passwd'), 'pwned\n');
      return [`--transform=s,^passwd$,${deep}${victimRel},`, 'passwd'];
    })), /^vxnet: could not load image: image evil:dotdot: layer 2 \(sha256:[0-9a-f]{12}…\): entry "(\.\.\/){40}.*victim" climbs out with "\.\."; nothing was stored$/],
    ['an absolute path in a layer', withLayer('abs', evilLayer('abs', (d) => {
      writeFileSync(join(d, 'passwd'), 'pwned\n');
      return [`--transform=s,^passwd$,${victim},`, 'passwd'];
    })), /entry ".*victim" is an absolute path; nothing was stored$/],
    ['a symlink escape in a layer', withLayer('symlink', evilLayer('symlink', (d) => {
      symlinkSync(home, join(d, 'esc'));
      writeFileSync(join(d, 'victim'), 'pwned\n');
      return ['esc', '--transform=s,^victim$,esc/victim,', 'victim'];
    })), /entry "esc\/victim" would be written through the symlink "esc"; nothing was stored$/],
    // GNU tar strips "../" from hard link targets even with -P: this entry is encoded by node-tar's Header
    ['a hard link outside in a layer', withLayer('hardlink', hardLinkTar('b', '../../../../../../../../etc/passwd')), /hard link "b" points outside the archive .*; nothing was stored$/],
  ];

  // ---- the lab ------------------------------------------------------------------
  const up = await vxnet(['lab', 'up', '--name', lab, '--hosts', '2', '--underlay', '203.0.113.0/24'], env, 180_000);
  const setupFailed = setupFailure(lab, env, cleanup);
  if (up.code !== 0) await setupFailed(new Error(`lab up failed: ${up.stderr}`));
  const net = await vxnet(['net', 'create', 'inet'], env);
  if (net.code !== 0) await setupFailed(new Error(`net create: ${net.stderr}`));
  const labState = () => JSON.parse(readFileSync(join(home, 'labs', lab, 'lab.json'), 'utf8')) as { hosts: Array<{ name: string; keeper: { pid: number }; engine: { stateDir: string } }> };
  const host = (h: string) => labState().hosts.find((x) => x.name === h)!;
  const imagesDir = (h: string) => join(host(h).engine.stateDir, 'images');
  const on = (h: string, args: string[], timeoutMs?: number) => vxnet(['-H', h, ...args], env, timeoutMs);
  /** Whether a container's rootfs is a mount point in host h's mount namespace (where its engine sees its state at the default /var/lib/vxnet/engine). */
  const rootfsMounted = (h: string, id: string) => readFileSync(`/proc/${host(h).keeper.pid}/mountinfo`, 'utf8').split('\n')
    .some((l) => l.split(' ')[4] === `/var/lib/vxnet/engine/containers/${id}/rootfs`);

  t.test('load: docker save on h1, an OCI layout directory on h2 and its tar on h1; layers unpacked once per host', async (t) => {
    const a = await on('h1', ['image', 'load', '-i', dockerTar]);
    t.equal(a.code, 0, a.stderr);
    t.equal(a.stdout.trim(), 'Loaded image: vxdemo:docker');
    const b = await on('h2', ['image', 'load', '-i', oci.dir]);
    t.equal(b.code, 0, b.stderr);
    t.equal(b.stdout.trim(), 'Loaded image: vxdemo:oci');
    const c = await on('h1', ['image', 'load', '-i', oci.tar]);
    t.equal(c.code, 0, c.stderr);
    t.same(readdirSync(join(imagesDir('h1'), 'layers')).sort(), [hex(sha256(layer1)), hex(sha256(layer2))].sort(), 'two images, the same two layers: unpacked once');
    const ls = await on('h1', ['image', 'ls']);
    t.match(ls.stdout, /^REPOSITORY\s+TAG\s+IMAGE ID\s+CREATED\s+SIZE/);
    t.match(ls.stdout, /vxdemo\s+docker\s+[0-9a-f]{12}/);
    t.match(ls.stdout, /vxdemo\s+oci\s+[0-9a-f]{12}/);
    t.match(ls.stdout, /busybox\s+latest\s+\(built-in\)/);
    const h2 = JSON.parse((await on('h2', ['image', 'ls', '--json'])).stdout) as Array<{ tags: string[] }>;
    t.same(h2.map((i) => i.tags).flat().sort(), ['busybox:latest', 'vxdemo:oci'], 'each host has its own store');
    const insp = JSON.parse((await on('h2', ['image', 'inspect', '--json', 'vxdemo:oci'])).stdout) as { config: unknown; layers: string[] };
    t.same(insp.config, { entrypoint: [], cmd: CLIENT.Cmd, env: CLIENT.Env, workingDir: '/srv', user: 'app', exposedPorts: [] });
    t.same(insp.layers, [sha256(layer1), sha256(layer2)]);
    const human = await on('h1', ['image', 'inspect', 'vxdemo:docker']);
    t.match(human.stdout, /^ExposedPorts:\s+7\/tcp$/m);
    // a gzipped docker save tarball (as `docker save | gzip`) on h2: its layers are the OCI image's, already there
    writeFileSync(`${dockerTar}.gz`, gzipSync(readFileSync(dockerTar)));
    const gz = await on('h2', ['image', 'load', '-i', `${dockerTar}.gz`]);
    t.equal(gz.code, 0, gz.stderr);
    t.equal(gz.stdout.trim(), 'Loaded image: vxdemo:docker');
    t.equal(readdirSync(join(imagesDir('h2'), 'layers')).length, 2, 'no layer unpacked twice');
  });

  t.test('an engine restart keeps the store', async (t) => {
    const r = await vxnet(['lab', 'restart', 'h2', 'engine'], env, 120_000);
    t.equal(r.code, 0, r.stderr);
    const ls = JSON.parse((await on('h2', ['image', 'ls', '--json'])).stdout) as Array<{ tags: string[] }>;
    t.same(ls.map((i) => i.tags).flat().sort(), ['busybox:latest', 'vxdemo:docker', 'vxdemo:oci']);
  });

  t.test('the image config is the process: Cmd, Env, WorkingDir, User; whiteouts and an opaque dir applied', async (t) => {
    const r = await on('h2', ['run', '--rm', 'vxdemo:oci'], 60_000);
    t.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split('\n');
    t.equal(lines[0], '1000', 'User app');
    t.equal(lines[1], '/srv', 'WorkingDir');
    t.equal(lines[2], 'hi there', 'Env');
    t.equal(lines[3], 'hello from layer 2', 'a file of the top layer');
    t.notOk(lines.includes('motd'), '/etc/motd is whited out');
    t.ok(lines.includes('group') && lines.includes('passwd'), 'the rest of /etc is there');
    t.ok(lines.includes('new') && !lines.includes('old'), '/var/cache is opaque: only the top layer\'s file');
  });

  t.test('one container per host on an overlay, reached by name across hosts; each writes only its own layer', async (t) => {
    const srv = await on('h1', ['run', '-d', '--name', 'srv', '--net', 'inet', 'vxdemo:docker']);
    t.equal(srv.code, 0, srv.stderr);
    const ociId = (JSON.parse((await on('h2', ['image', 'inspect', '--json', 'vxdemo:oci'])).stdout) as { id: string }).id;
    const cli = await on('h2', ['run', '-d', '--name', 'cli', '--net', 'inet', hex(ociId).slice(0, 10), 'sleep', '3600']);
    t.equal(cli.code, 0, `run by id prefix: ${cli.stderr}`);
    const echoed = await until(async () => {
      const r = await on('h2', ['exec', 'cli', 'sh', '-c', 'echo across | nc srv 7']);
      return r.stdout.trim() === 'echo:across' ? r : undefined;
    }, 15_000, 200);
    t.ok(echoed.value, 'h2\'s container reaches h1\'s by name, a TCP echo through the image\'s server');
    const ping = await on('h1', ['exec', 'srv', 'ping', '-c1', '-W2', 'cli']);
    t.equal(ping.code, 0, `and back by name: ${ping.stderr}`);
    const psOut = (await on('h1', ['ps'])).stdout;
    t.match(psOut, /vxdemo:docker\s+"nc -ll -p 7 -e/, 'ps shows the image and the command from its config');

    const id = srv.stdout.trim();
    const dir = join(host('h1').engine.stateDir, 'containers', id);
    t.ok(rootfsMounted('h1', id), 'an overlayfs at the container\'s rootfs');
    t.equal((await on('h1', ['exec', 'srv', 'sh', '-c', 'echo mine > /written && rm /bin/echo']).then((r) => r.code)), 0);
    t.equal(readFileSync(join(dir, 'upper', 'written'), 'utf8'), 'mine\n', 'writes land in the container\'s upper dir');
    t.ok(existsSync(join(imagesDir('h1'), 'layers', hex(sha256(layer1)), 'bin', 'echo')), 'the image layer is untouched');
    const other = await on('h1', ['run', '--rm', 'vxdemo:docker', 'sh', '-c', 'ls /written /bin/echo 2>&1; true']);
    t.match(other.stdout, /\/written.*No such file/s, 'another container of the image does not see it');
    t.match(other.stdout, /^\/bin\/echo$/m);

    const refused = await on('h1', ['image', 'rm', 'vxdemo:docker']);
    t.not(refused.code, 0);
    t.equal(refused.stderr, 'vxnet: could not remove image "vxdemo:docker": it is used by container "srv" (remove the container first)\n');
    t.equal((await on('h1', ['rm', '-f', 'srv'])).code, 0);
    t.notOk(rootfsMounted('h1', id), 'unmounted');
    t.notOk(existsSync(dir), 'its layer is gone with it');
    const rm = await on('h1', ['image', 'rm', 'vxdemo:docker']);
    t.equal(rm.code, 0, rm.stderr);
    t.same(readdirSync(join(imagesDir('h1'), 'layers')).length, 2, 'layers the OCI image still uses stay');
    const gone = await on('h1', ['run', '-d', 'vxdemo:docker']);
    t.match(gone.stderr, /no image "vxdemo:docker"/);
    t.equal((await on('h2', ['rm', '-f', 'cli'])).code, 0);
  });

  t.test('lifecycle verbs on a loaded image: cp into /, restart and start remount its layer, rm and run --rm -d remove it', async (t) => {
    const run = await on('h2', ['run', '-d', '--name', 'lc', '--restart', 'always', 'vxdemo:oci', 'sleep', '3600']);
    t.equal(run.code, 0, run.stderr);
    const id = run.stdout.trim();
    const dir = join(host('h2').engine.stateDir, 'containers', id);
    const file = join(work, 'cp-in.txt');
    writeFileSync(file, 'copied in\n');
    const cp = await on('h2', ['cp', file, 'lc:/']);
    t.equal(cp.code, 0, `cp into the root of a loaded image's container: ${cp.stderr}`);
    t.equal(readFileSync(join(dir, 'upper', 'cp-in.txt'), 'utf8'), 'copied in\n', 'written to its own layer');
    t.equal((await on('h2', ['exec', 'lc', 'cat', '/cp-in.txt'])).stdout, 'copied in\n');

    const bb = await on('h2', ['run', '-d', '--name', 'bb', 'busybox']);
    t.equal(bb.code, 0, bb.stderr);
    const bbCp = await on('h2', ['cp', file, 'bb:/']);
    t.not(bbCp.code, 0, 'busybox has no writable layer: its root is the shared read-only one');
    t.match(bbCp.stderr, /^vxnet: could not copy to container "bb": that part of its file system is read-only .*\n$/);
    t.equal((await on('h2', ['rm', '-f', 'bb'])).code, 0);

    const restarted = await on('h2', ['restart', 'lc'], 60_000);
    t.equal(restarted.code, 0, restarted.stderr);
    t.equal((await on('h2', ['exec', 'lc', 'cat', '/cp-in.txt'])).stdout, 'copied in\n', 'restart keeps its layer');

    t.equal((await on('h2', ['stop', '-t', '1', 'lc'], 60_000)).code, 0);
    const refused = await on('h2', ['image', 'rm', 'vxdemo:oci']);
    t.not(refused.code, 0, 'image rm refused while a stopped container with a restart policy uses it');
    t.equal(refused.stderr, 'vxnet: could not remove image "vxdemo:oci": it is used by container "lc" (remove the container first)\n');
    // as after a host restart: the overlayfs is gone; start mounts it again before runc runs
    execFileSync('nsenter', ['-t', String(host('h2').keeper.pid), '-m', 'umount', join('/var/lib/vxnet/engine/containers', id, 'rootfs')]);
    t.notOk(rootfsMounted('h2', id));
    const cpStopped = await on('h2', ['cp', file, 'lc:/again.txt']);
    t.equal(cpStopped.code, 0, `cp into a stopped container mounts its layer: ${cpStopped.stderr}`);
    t.ok(rootfsMounted('h2', id));
    execFileSync('nsenter', ['-t', String(host('h2').keeper.pid), '-m', 'umount', join('/var/lib/vxnet/engine/containers', id, 'rootfs')]);
    const started = await on('h2', ['start', 'lc'], 60_000);
    t.equal(started.code, 0, started.stderr);
    t.ok(rootfsMounted('h2', id), 'mounted again by start');
    t.equal((await on('h2', ['exec', 'lc', 'cat', '/cp-in.txt', '/again.txt'])).stdout, 'copied in\ncopied in\n');

    // a host restart: the engine and the container die, the mount is gone; the engine's start restarts it (policy always)
    const { pid } = JSON.parse((await on('h2', ['inspect', '--json', 'lc'])).stdout) as { pid: number | null };
    t.ok(pid, 'lc has an init');
    t.equal((await vxnet(['lab', 'kill', 'h2', 'engine', '--signal', 'KILL', '--name', lab], env)).code, 0, 'engine killed');
    await until(() => false, 300);
    process.kill(pid as number, 'SIGKILL');
    await until(() => false, 300);
    execFileSync('nsenter', ['-t', String(host('h2').keeper.pid), '-m', 'umount', '-l', join('/var/lib/vxnet/engine/containers', id, 'rootfs')]);
    t.notOk(rootfsMounted('h2', id), 'no overlayfs while the engine is down');
    const up = await vxnet(['lab', 'restart', 'h2', 'engine', '--name', lab], env, 120_000);
    t.equal(up.code, 0, `engine started again: ${up.stderr}`);
    const back = await until(async () => {
      const c = JSON.parse((await on('h2', ['inspect', '--json', 'lc'])).stdout) as { status: string };
      return c.status === 'running' ? c : undefined;
    }, 20_000, 200);
    t.ok(back.value, 'lc runs again after the engine start');
    t.ok(rootfsMounted('h2', id), 'on its overlayfs, mounted again');
    t.equal((await on('h2', ['exec', 'lc', 'cat', '/cp-in.txt'])).stdout, 'copied in\n', 'with its layer');
    t.equal((await on('h2', ['rm', '-f', 'lc'])).code, 0);
    t.notOk(rootfsMounted('h2', id), 'rm unmounts');
    t.notOk(existsSync(dir), 'rm removes the layer');

    const once = await on('h2', ['run', '--rm', '-d', 'vxdemo:oci', 'sleep', '1']);
    t.equal(once.code, 0, once.stderr);
    const onceId = once.stdout.trim();
    t.ok(rootfsMounted('h2', onceId));
    const gone = await until(async () => (existsSync(join(host('h2').engine.stateDir, 'containers', onceId)) ? undefined : true), 30_000, 200);
    t.ok(gone.value, 'run --rm -d: removed once it exits');
    t.notOk(rootfsMounted('h2', onceId), 'and its overlayfs unmounted');
  });

  t.test('bad archives: refused with one line; nothing stored, nothing written outside', async (t) => {
    const before = tree(imagesDir('h1'));
    for (const [what, file, message] of bad) {
      const r = await on('h1', ['image', 'load', '-i', file]);
      t.not(r.code, 0, `${what}: refused`);
      t.match(r.stderr.trim(), message, `${what}: ${r.stderr.trim()}`);
      t.equal(r.stderr.trim().split('\n').length, 1, `${what}: one line`);
      t.same(tree(imagesDir('h1')), before, `${what}: the store is as it was`);
      t.notOk(existsSync(victim), `${what}: nothing written outside the store`);
    }
    t.same(readdirSync(join(imagesDir('h1'), 'tmp')), []);
  });
}
