/**
 * Podman on lab hosts (`vxnet lab up --podman`, issue 12), without vxnet's CNI plugin:
 * each host's podman is its own (database, storage, CNI configs and plugins, cgroup
 * tree), runs containers on Debian's bridge + host-local plugins, and `lab down` leaves
 * nothing of it behind. A logging plugin records what podman passes to a CNI plugin;
 * the same plugin, answering with DNS servers, shows what podman does with them.
 *
 * test-needs: podman (scripts/test.sh installs Debian's podman and containernetworking-plugins)
 */
import t from 'tap';
import { chmodSync, existsSync, readFileSync, readdirSync, readlinkSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isRoot, setupFailure, tempHome, uniqueLabName, vxnet } from './helpers/cli.js';
import { labHost, readLab, type HostJson } from './helpers/lab.js';
import { podman, podmanMissing } from './helpers/podman.js';

const missing = podmanMissing();
if (!isRoot) {
  t.plan(0, 'skip: lab tests need root (network namespaces)');
} else if (missing) {
  t.plan(0, `skip: ${missing}`);
} else {
  const { home, cleanup } = tempHome('podman');
  const env = { VXNET_HOME: home };
  const lab = uniqueLabName('pl');
  const prefix = `vx-${lab}.`;

  // the root's state before the lab: nothing of it may change
  const ls = (dir: string) => {
    try {
      return readdirSync(dir).sort();
    } catch {
      return [];
    }
  };
  const rootCniConf = ls('/etc/cni/net.d');
  const rootShm = ls('/dev/shm');
  const rootNetns = ls('/run/netns');
  const libpodParents = () => ls('/sys/fs/cgroup').filter((c) => existsSync(join('/sys/fs/cgroup', c, 'libpod_parent')));
  const rootLibpodParents = libpodParents();

  const fail = setupFailure(lab, env, cleanup);
  const up = await vxnet(['lab', 'up', '--name', lab, '--hosts', '2', '--podman'], env, 120_000).catch(fail);
  if (up.code !== 0) await fail(new Error(`lab up --podman failed: ${up.stderr}`));
  t.teardown(async () => {
    await vxnet(['lab', 'down', '--name', lab], env, 120_000);
    cleanup();
  });
  const state = readLab(home, lab);
  const h1 = labHost(state, 'h1');
  const h2 = labHost(state, 'h2');
  const ok = async (h: HostJson, args: string[]) => {
    const r = await podman(h, args);
    if (r.code !== 0) throw new Error(`podman ${args.join(' ')} on ${h.name}: exit ${r.code}: ${r.stderr.trim()}`);
    return r.stdout;
  };
  /** A host's path as seen from the root namespace (its fs/ dir is bound on it inside the machine). */
  const onDisk = (h: HostJson, path: string) => join(h.dir, 'fs', path);

  // a CNI plugin that logs what it is given, then is Debian's bridge; with `testDns` in
  // its config it puts that into the ADD result's `dns`
  const PLUGIN = 'vxnet-test-log';
  const pluginSource = `#!${process.execPath}
const { spawnSync } = require('child_process');
const fs = require('fs');
const input = fs.readFileSync(0, 'utf8');
const conf = JSON.parse(input);
const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => k.startsWith('CNI_')));
fs.appendFileSync('/var/lib/cni/${PLUGIN}.log', JSON.stringify({ env, stdin: conf }) + '\\n');
const r = spawnSync('/usr/lib/cni/bridge', [], { input, encoding: 'utf8' });
let out = r.stdout || '';
if (r.status === 0 && process.env.CNI_COMMAND === 'ADD' && conf.testDns) {
  const res = JSON.parse(out);
  res.dns = conf.testDns;
  out = JSON.stringify(res);
}
process.stdout.write(out);
process.stderr.write(r.stderr || '');
process.exit(r.status === null ? 1 : r.status);
`;
  const conflist = (name: string, type: string, subnet: string, extra: Record<string, unknown> = {}) => JSON.stringify({
    cniVersion: '1.0.0',
    name,
    plugins: [{
      type, bridge: `${name}0`, isGateway: true, ipMasq: false, ...extra,
      ipam: { type: 'host-local', ranges: [[{ subnet }]], routes: [{ dst: '0.0.0.0/0' }] },
    }],
  });
  const logged = () => {
    try {
      return readFileSync(onDisk(h1, `/var/lib/cni/${PLUGIN}.log`), 'utf8').split('\n').filter(Boolean)
        .map((l) => JSON.parse(l) as { env: Record<string, string>; stdin: Record<string, unknown> });
    } catch {
      return [];
    }
  };

  t.test('lab status shows each host\'s podman', async (t) => {
    const st = await vxnet(['lab', 'status', '--name', lab, '--json'], env);
    t.equal(st.code, 0, st.stderr);
    const hosts = (JSON.parse(st.stdout) as { hosts: Array<{ name: string; podman: { cgroupRoot: string; image: string } | null }> }).hosts;
    t.same(hosts.map((h) => [h.name, h.podman?.cgroupRoot, h.podman?.image]), [
      ['h1', `/vx-${lab}.h1`, 'localhost/vxnet-busybox:latest'],
      ['h2', `/vx-${lab}.h2`, 'localhost/vxnet-busybox:latest'],
    ]);
  });

  t.test('podman info inside a host: CNI, cgroupfs, overlay, runc, the host\'s own storage', async (t) => {
    const info = JSON.parse(await ok(h1, ['info', '--format', 'json'])) as {
      host: { networkBackend: string; cgroupManager: string; cgroupVersion: string; eventLogger: string; logDriver: string; hostname: string; ociRuntime: { name: string } };
      store: { graphDriverName: string; graphRoot: string; runRoot: string };
    };
    t.comment(`podman info on h1: ${JSON.stringify({ host: { ...info.host, ociRuntime: info.host.ociRuntime.name }, store: info.store }).slice(0, 600)}`);
    t.equal(info.host.networkBackend, 'cni', 'no netavark: the CNI backend');
    t.equal(info.host.cgroupManager, 'cgroupfs', 'no systemd in a machine');
    t.equal(info.host.ociRuntime.name, 'runc');
    t.equal(info.host.eventLogger, 'file');
    t.equal(info.host.hostname, 'h1');
    t.equal(info.store.graphDriverName, 'overlay');
    t.equal(info.store.graphRoot, '/var/lib/containers/storage', 'the usual path, bound to the host\'s own directory');
    t.ok(existsSync(onDisk(h1, '/var/lib/containers/storage/libpod/bolt_state.db')), 'h1\'s database is in h1\'s directory');
    t.ok(existsSync(onDisk(h2, '/var/lib/containers/storage/libpod/bolt_state.db')), 'h2\'s in h2\'s');
  });

  t.test('the image is on every host', async (t) => {
    for (const h of [h1, h2]) {
      const images = await ok(h, ['images', '--format', '{{.Repository}}:{{.Tag}}']);
      t.match(images, /^localhost\/vxnet-busybox:latest$/m, `${h.name} has the image`);
    }
    const r = await podman(h2, ['run', '--rm', '--network', 'none', 'vxnet-busybox', 'sh', '-c', 'echo hello from $(busybox | head -c 7)']);
    t.equal(r.code, 0, r.stderr);
    t.match(r.stdout, /hello from BusyBox/);
  });

  t.test('Debian\'s bridge + host-local on h1 and h2: own conf dirs, own databases', async (t) => {
    // h1: the logging plugin in h1's /opt/cni/bin; h2: Debian's bridge itself
    writeFileSync(onDisk(h1, `/opt/cni/bin/${PLUGIN}`), pluginSource, { mode: 0o755 });
    chmodSync(onDisk(h1, `/opt/cni/bin/${PLUGIN}`), 0o755);
    writeFileSync(onDisk(h1, '/etc/cni/net.d/50-plnet.conflist'), conflist('plnet', PLUGIN, '10.123.1.0/24'));
    writeFileSync(onDisk(h2, '/etc/cni/net.d/50-plnet.conflist'), conflist('plnet', 'bridge', '10.123.2.0/24'));
    writeFileSync(onDisk(h1, '/etc/cni/net.d/51-pldns.conflist'), conflist('pldns', PLUGIN, '10.123.9.0/24', {
      testDns: { nameservers: ['10.123.9.53'], search: ['pl.test'], options: ['ndots:2'] },
    }));
    const nets = async (h: HostJson) => (await ok(h, ['network', 'ls', '--format', '{{.Name}} {{.Driver}}'])).trim().split('\n').sort();
    t.same(await nets(h1), ['pldns vxnet-test-log', 'plnet vxnet-test-log', 'podman bridge'], 'h1 sees its conflists (podman\'s default network is made in memory)');
    t.same(await nets(h2), ['plnet bridge', 'podman bridge'], 'h2 sees only its own');
    t.same(ls('/etc/cni/net.d'), rootCniConf, 'the root\'s /etc/cni/net.d is untouched');

    await ok(h1, ['run', '-d', '--network', 'plnet', '--network-alias', 'web', '--name', 'c1', 'vxnet-busybox', 'sleep', '1000']);
    t.same((await ok(h2, ['ps', '-a', '--format', '{{.Names}}'])).trim(), '', 'c1 of h1 is not listed on h2');
    await ok(h2, ['run', '-d', '--network', 'plnet', '--name', 'c1', 'vxnet-busybox', 'sleep', '1000']);
    t.same((await ok(h1, ['ps', '-a', '--format', '{{.Names}}'])).trim(), 'c1', 'h2 made its own c1: h1 still has one');

    t.match(await ok(h1, ['exec', 'c1', 'ip', '-4', 'addr', 'show', 'eth0']), /inet 10\.123\.1\.\d+\/24/, 'c1 on h1 has an address of h1\'s plnet');
    t.match(await ok(h2, ['exec', 'c1', 'ip', '-4', 'addr', 'show', 'eth0']), /inet 10\.123\.2\.\d+\/24/, 'c1 on h2 one of h2\'s');
    // podman's default capabilities (Debian's containers.conf) leave out NET_RAW, which busybox's ping needs
    const ping = await podman(h1, ['exec', '--privileged', 'c1', 'ping', '-c1', '-W2', '10.123.1.1']);
    t.equal(ping.code, 0, `c1 reaches its bridge on h1: ${ping.stderr}`);

    const add = logged().find((l) => l.env.CNI_COMMAND === 'ADD' && l.env.CNI_ARGS?.includes('K8S_POD_NAME=c1'));
    t.ok(add, 'the plugin was run for ADD');
    if (add) {
      t.comment(`podman -> CNI ADD env: ${JSON.stringify(add.env)}`);
      t.comment(`podman -> CNI ADD stdin: ${JSON.stringify(add.stdin)}`);
      t.match(add.env.CNI_NETNS, /^\/run\/netns\/netns-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/, 'CNI_NETNS: a file in the host\'s /run/netns');
      t.equal(add.env.CNI_IFNAME, 'eth0');
      t.equal(add.env.CNI_ARGS, 'IgnoreUnknown=1;K8S_POD_NAME=c1');
      t.match(add.env.CNI_CONTAINERID, /^[0-9a-f]{64}$/);
      t.equal(add.env.CNI_PATH, '/usr/local/libexec/cni:/usr/libexec/cni:/usr/local/lib/cni:/usr/lib/cni:/opt/cni/bin');
      t.equal(add.stdin.name, 'plnet');
      t.equal(add.stdin.cniVersion, '1.0.0');
    }
    t.ok(logged().some((l) => l.env.CNI_COMMAND === 'VERSION'), 'podman asked the plugin for its versions');

    const rm = await podman(h1, ['rm', '-f', '-t', '0', 'c1']);
    t.equal(rm.code, 0, rm.stderr);
    const del = logged().find((l) => l.env.CNI_COMMAND === 'DEL');
    t.ok(del, 'rm ran DEL');
    t.ok(del?.stdin.prevResult, 'with the ADD result as prevResult');
    t.same(readdirSync(`/proc/${h1.keeper.pid}/root/run/netns`).filter((n) => n.startsWith('netns-')), [], 'its netns file is gone from h1\'s /run/netns');
  });

  t.test('a result\'s dns reaches /etc/resolv.conf', async (t) => {
    const r = await podman(h1, ['run', '--rm', '--network', 'pldns', 'vxnet-busybox', 'cat', '/etc/resolv.conf']);
    t.equal(r.code, 0, r.stderr);
    t.comment(`resolv.conf with dns {nameservers:[10.123.9.53], search:[pl.test], options:[ndots:2]} in the result:\n${r.stdout}`);
    t.match(r.stdout, /^search pl\.test$/m, 'search from the result');
    t.match(r.stdout, /^nameserver 10\.123\.9\.53$/m, 'the result\'s nameserver');
    const first = r.stdout.split('\n').find((l) => l.startsWith('nameserver'));
    t.equal(first, 'nameserver 10.123.9.53', 'first, before the host\'s');
    const dns = await podman(h1, ['run', '--rm', '--network', 'pldns', '--dns', '10.123.9.99', 'vxnet-busybox', 'cat', '/etc/resolv.conf']);
    t.comment(`with --dns 10.123.9.99:\n${dns.stdout}`);
    t.match(dns.stdout, /^nameserver 10\.123\.9\.99$/m, '--dns wins');
    t.notMatch(dns.stdout, /10\.123\.9\.53/, 'and replaces the result\'s servers');
  });

  t.test('lab down leaves nothing of podman behind', async (t) => {
    // still running: c1 on h2 (plnet), and on h1 a container in namespaces of its own only
    await ok(h1, ['run', '-d', '--network', 'none', '--name', 'c0', 'vxnet-busybox', 'sleep', '1000']);
    const pidsOf = async (h: HostJson, c: string) => (await ok(h, ['inspect', '-f', '{{.State.Pid}} {{.State.ConmonPid}}', c])).trim().split(' ').map(Number);
    const pids = [...(await pidsOf(h1, 'c0')), ...(await pidsOf(h2, 'c1'))];
    t.equal(pids.filter((p) => p > 0).length, 4, `containers and their conmons: ${pids.join(' ')}`);
    const nsOf = (pid: number, ns: string) => {
      try {
        return readlinkSync(`/proc/${pid}/ns/${ns}`);
      } catch {
        return undefined;
      }
    };
    // every namespace the lab's machines and containers are in
    const labNs = new Set<string>();
    for (const pid of [h1.keeper.pid, h2.keeper.pid, ...pids]) for (const ns of ['net', 'mnt']) {
      const n = nsOf(pid, ns);
      if (n) labNs.add(n);
    }
    for (const ns of ['net', 'mnt']) labNs.delete(nsOf(process.pid, ns) as string);
    t.ok(statSync(`/sys/fs/cgroup/pids/vx-${lab}.h1/libpod_parent`).isDirectory(), 'podman\'s cgroups are in h1\'s tree');

    const down = await vxnet(['lab', 'down', '--name', lab], env, 120_000);
    t.equal(down.code, 0, `lab down: ${down.stderr}`);
    // a zombie waiting for init (conmon daemonizes: its parent is pid 1) has exited
    const running = (pid: number) => {
      try {
        return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.[0] !== 'Z';
      } catch {
        return false;
      }
    };
    t.same(pids.filter(running), [], 'containers and conmons have exited');
    const inLab = ls('/proc').filter((p) => /^[0-9]+$/.test(p) && running(Number(p)))
      .filter((p) => ['net', 'mnt'].some((ns) => labNs.has(nsOf(Number(p), ns) ?? '')))
      .map((p) => {
        try {
          return `${p} ${readFileSync(`/proc/${p}/cmdline`, 'utf8').replace(/\0/g, ' ').slice(0, 200)}`;
        } catch {
          return `${p} (exited)`;
        }
      });
    t.same(inLab, [], 'no process is left in a namespace of the lab or of its containers');
    t.same(ls('/run/netns').filter((n) => n.startsWith(prefix) || (n.startsWith('netns-') && !rootNetns.includes(n))), [], 'no namespace in the root\'s /run/netns');
    const mounts = readFileSync('/proc/self/mountinfo', 'utf8').split('\n')
      .filter((l) => l.includes(home) || l.includes(prefix) || /\/var\/lib\/containers|\/etc\/cni|\/opt\/cni|\/var\/lib\/cni|netns-|overlay/.test(l));
    t.same(mounts, [], 'nothing of the lab or of podman is mounted in the root');
    t.equal(ls('/sys/fs/cgroup').flatMap((c) => ls(join('/sys/fs/cgroup', c)).filter((d) => d.startsWith(prefix))).length, 0, 'the hosts\' cgroup trees are gone');
    t.same(libpodParents(), rootLibpodParents, 'no libpod_parent cgroup appeared in the root\'s tree');
    t.same(ls('/dev/shm'), rootShm, 'the root\'s /dev/shm is untouched (podman\'s lock segment was the host\'s)');
    t.same(ls('/etc/cni/net.d'), rootCniConf, 'the root\'s /etc/cni/net.d is untouched');
  });
}
