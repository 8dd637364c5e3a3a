import t from 'tap';
import { buildSpec, DEFAULT_CAPABILITIES } from '../src/runtime/oci-spec.js';

const input = {
  id: 'a'.repeat(64), rootfs: '/images/busybox/rootfs', args: ['sh'], env: ['A=1'], hostname: 'h', netnsPath: '/run/netns/x',
  etcFiles: { hosts: '/c/hosts', resolvConf: '/c/resolv.conf', hostname: '/c/hostname' },
};

t.test('what runc 1.1 needs: absolute read-only root, no terminal, CAP_NET_RAW, netns by path, ro /etc binds', async (t) => {
  const s = buildSpec(input);
  t.same(s.root, { path: '/images/busybox/rootfs', readonly: true });
  t.equal(s.process.terminal, false);
  t.equal(buildSpec({ ...input, terminal: true }).process.terminal, true, 'a terminal only when asked (run -t)');
  t.ok(DEFAULT_CAPABILITIES.includes('CAP_NET_RAW'));
  t.same((s.process.capabilities as { effective: string[] }).effective, DEFAULT_CAPABILITIES);
  t.same(s.linux.namespaces.find((n) => n.type === 'network'), { type: 'network', path: '/run/netns/x' });
  for (const [dst, src] of [['/etc/hosts', '/c/hosts'], ['/etc/resolv.conf', '/c/resolv.conf'], ['/etc/hostname', '/c/hostname']]) {
    const m = s.mounts.find((x) => x.destination === dst);
    t.equal(m?.source, src);
    t.ok(m?.options?.includes('rbind') && m.options.includes('ro'), `${dst} is an ro rbind`);
  }
  t.ok(s.mounts.some((m) => m.destination === '/tmp' && m.type === 'tmpfs'), 'tmpfs on /tmp');
  t.same(s.process.env, ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'A=1', 'HOSTNAME=h']);
  t.equal(s.linux.cgroupsPath, `/vxnet-${'a'.repeat(64)}`, 'one flat cgroup, removed by runc');
});

t.test('--net host: no network namespace entry at all (the engine\'s own)', async (t) => {
  const s = buildSpec({ ...input, netnsPath: null });
  t.notOk(s.linux.namespaces.some((n) => n.type === 'network'));
});

t.test('a PATH given with -e wins', async (t) => {
  t.same(buildSpec({ ...input, env: ['PATH=/bin'] }).process.env, ['PATH=/bin', 'HOSTNAME=h']);
});
