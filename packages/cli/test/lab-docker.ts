import t from 'tap';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BUSYBOX, busyboxEntries, hasInterpreter, tarArchive, type TarEntry } from '../src/lab/docker-image.js';
import { VXNET_DNS_ADDRESS } from '@vxnet/common';
import { cgroupDirs, cgroupPids } from '../src/lab/cgroup.js';
import { dockerdConfig, planDockerd, prepareDockerd } from '../src/lab/docker.js';

const tarAvailable = existsSync('/usr/bin/tar') || existsSync('/bin/tar');

t.test('tarArchive: ustar that tar(1) lists and extracts as written', { skip: tarAvailable ? false : 'no tar(1) to check against' }, async (t) => {
  const entries: TarEntry[] = [
    { type: 'dir', path: 'bin', mode: 0o755 },
    { type: 'dir', path: 'tmp', mode: 0o1777 },
    { type: 'file', path: 'bin/tool', mode: 0o755, data: Buffer.from('#!/bin/sh\necho hi\n') },
    { type: 'file', path: 'empty', mode: 0o644, data: Buffer.alloc(0) },
    { type: 'file', path: 'big', mode: 0o600, data: Buffer.alloc(1000, 7) },
    { type: 'symlink', path: 'bin/sh', target: '/bin/tool' },
  ];
  const tar = tarArchive(entries);
  t.equal(tar.length % 512, 0, 'whole blocks');
  t.same(tar.subarray(-1024), Buffer.alloc(1024), 'ends in two zero blocks');
  t.same(tarArchive(entries), tar, 'the same bytes every time');
  const dir = mkdtempSync(join(tmpdir(), 'vxnet-tar-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'a.tar'), tar);
  const listing = execFileSync('tar', ['-tvf', join(dir, 'a.tar')], { encoding: 'utf8' });
  t.match(listing, /^drwxr-xr-x root\/root +0 1970-01-01 00:00 bin\/$/m);
  t.match(listing, /^drwxrwxrwt root\/root +0 .* tmp\/$/m, 'sticky /tmp');
  t.match(listing, /^-rwxr-xr-x root\/root +18 .* bin\/tool$/m);
  t.match(listing, /^-rw------- root\/root +1000 .* big$/m);
  t.match(listing, /^lrwxrwxrwx root\/root +0 .* bin\/sh -> \/bin\/tool$/m);
  execFileSync('tar', ['-xf', join(dir, 'a.tar'), '-C', dir]);
  t.equal(readFileSync(join(dir, 'bin/tool'), 'utf8'), '#!/bin/sh\necho hi\n');
  t.same(readFileSync(join(dir, 'big')), Buffer.alloc(1000, 7));
  t.throws(() => tarArchive([{ type: 'file', path: 'x'.repeat(101), mode: 0o644, data: Buffer.alloc(0) }]), /too long for ustar/);
});

t.test('the busybox image: the static binary, one symlink per applet, passwd and group', { skip: existsSync(BUSYBOX) ? false : `no ${BUSYBOX} (busybox-static)` }, async (t) => {
  t.equal(hasInterpreter(readFileSync(BUSYBOX)), false, `${BUSYBOX} is static`);
  t.equal(hasInterpreter(readFileSync(process.execPath)), true, 'node is not');
  t.equal(hasInterpreter(Buffer.from('#!/bin/sh\n')), false, 'not an ELF: no interpreter');
  const entries = busyboxEntries();
  const byPath = new Map(entries.map((e) => [e.path, e]));
  t.match(byPath.get('bin/busybox'), { type: 'file', mode: 0o755 });
  for (const applet of ['bin/sh', 'bin/ping', 'usr/bin/nslookup', 'bin/sleep']) t.match(byPath.get(applet), { type: 'symlink', target: '/bin/busybox' }, applet);
  t.match(byPath.get('tmp'), { type: 'dir', mode: 0o1777 });
  t.match(byPath.get('etc/passwd'), { type: 'file' });
  t.equal(new Set(entries.map((e) => e.path)).size, entries.length, 'no path twice');
  t.throws(() => busyboxEntries(process.execPath), /dynamically linked; the image needs Debian's busybox-static/);
});

t.test('dockerd settings: everything in daemon.json, per host paths and cgroup parent, vxnet DNS', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vxnet-dockerd-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const d = planDockerd('lab1', 'h2', join(dir, 'h2'));
  t.match(d, { socket: '/run/docker.sock', cgroupParent: '/vx-lab1.h2', dataRoot: join(dir, 'h2', 'docker', 'data'), execRoot: join(dir, 'h2', 'docker', 'exec') });
  t.not(planDockerd('lab1', 'h1', join(dir, 'h1')).cgroupParent, d.cgroupParent, 'one cgroup parent per host');
  t.not(planDockerd('lab2', 'h2', join(dir, 'h2')).cgroupParent, d.cgroupParent, 'and per lab');
  const c = dockerdConfig(d);
  t.match(c, {
    'data-root': d.dataRoot, 'exec-root': d.execRoot, hosts: ['unix:///run/docker.sock'], 'storage-driver': 'overlay2',
    'cgroup-parent': '/vx-lab1.h2', dns: [VXNET_DNS_ADDRESS], 'deprecated-key-path': join(dir, 'h2', 'docker', 'key.json'),
  });
  t.equal(VXNET_DNS_ADDRESS, '169.254.169.53');
  prepareDockerd(d, '/usr/sbin/dockerd');
  t.same(JSON.parse(readFileSync(d.config, 'utf8')), c, 'written to its config file');
  t.same(d.command.slice(-3), ['/usr/sbin/dockerd', '--config-file', d.config], 'dockerd runs with --config-file and nothing else');
  t.equal(d.command[0], 'unshare', 'in a mount namespace of its own');
  t.notOk(d.command.some((a) => a.includes('lab1') && a !== d.config && a !== d.cgroupBind), 'no lab value inside the launcher script');
});

t.test('cgroups: an absent parent has no directories and no pids', async (t) => {
  t.same(cgroupDirs(`/vx-absent-${process.pid}.h1`), []);
  t.same(cgroupPids(`/vx-absent-${process.pid}.h1`), []);
});
