/**
 * The engine in a 3-host lab, on real runc, the real kernel and a real etcd: the CLI
 * as a user runs it (`vxnet -H hN run/exec/ps/logs/stop/start/rm/inspect/net connect`).
 * Containers on one overlay network reach each other across hosts and nothing on
 * another network; none/host/container network modes; lifecycle; an engine restart;
 * every bad `run` leaves nothing behind; lab down leaves no container process; the
 * embedded DNS as containers see it.
 */
import t from 'tap';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isRoot, netnsWithPrefix, setupFailure, tempHome, uniqueLabName, vxnet } from './helpers/cli.js';
import { hostNetns } from './helpers/lab.js';
import { unixExec, unixJson } from '@vxnet/common/testing';
import { until } from './helpers/wait.js';

const UPSTREAM_DNS = fileURLToPath(new URL('./fixtures/upstream-dns.js', import.meta.url));

interface ContainerJson {
  id: string;
  name: string;
  status: string;
  pid: number | null;
  exitCode: number | null;
  sandbox: string | null;
  networks: Array<{ network: string; ip: string; ifname: string; gateway: string; endpointId: string }>;
}

if (!isRoot) {
  t.plan(0, 'skip: engine tests need root (namespaces, runc)');
} else {
  const { home, cleanup } = tempHome('engine');
  const env = { VXNET_HOME: home };
  const lab = uniqueLabName('en');
  const prefix = `vx-${lab}.`;
  t.teardown(async () => {
    await vxnet(['lab', 'down', '--name', lab], env);
    cleanup();
  });

  const UPSTREAM = '198.51.100.250';
  const up = await vxnet(['lab', 'up', '--name', lab, '--hosts', '3', '--underlay', '198.51.100.0/24', '--dns-upstream', UPSTREAM], env);
  const setupFailed = setupFailure(lab, env, cleanup);
  if (up.code !== 0) await setupFailed(new Error(`lab up failed: ${up.stderr}`));
  for (const n of ['net1', 'net2']) {
    const r = await vxnet(['net', 'create', n], env);
    if (r.code !== 0) await setupFailed(new Error(`net create ${n}: ${r.stderr}`));
  }
  const labFile = join(home, 'labs', lab, 'lab.json');
  const labState = () => JSON.parse(readFileSync(labFile, 'utf8'));
  const host = (h: string) => labState().hosts.find((x: { name: string }) => x.name === h);
  const on = (h: string, args: string[]) => vxnet(['-H', h, ...args], env);
  const inspect = async (h: string, c: string): Promise<ContainerJson> => {
    const r = await on(h, ['inspect', '--json', c]);
    if (r.code !== 0) throw new Error(`inspect ${c}: ${r.stderr}`);
    return JSON.parse(r.stdout) as ContainerJson;
  };
  const run = async (h: string, args: string[]): Promise<ContainerJson> => {
    const r = await on(h, ['run', '-d', ...args]);
    if (r.code !== 0) throw new Error(`run ${args.join(' ')}: ${r.stderr}`);
    return inspect(h, r.stdout.trim());
  };
  const ping = async (h: string, c: string, target: string, wait = 1) => (await on(h, ['exec', c, 'ping', '-c1', `-W${wait}`, target])).code === 0;
  const agentEndpoints = async (h: string) => (await unixJson(host(h).agent.socket, 'GET', '/v1/endpoints')).body.endpoints as Array<{ id: string; container: string }>;
  const runcDir = (h: string) => join(host(h).engine.stateDir, 'runc');
  const containersDir = (h: string) => join(host(h).engine.stateDir, 'containers');
  const ls = (dir: string) => (existsSync(dir) ? readdirSync(dir).sort() : []);
  /** What a host's engine has made: sandboxes, agent endpoints, runc containers, state directories. */
  const footprint = async (h: string) => ({
    netns: hostNetns(host(h)).filter((n) => n.startsWith('vxnet-s-')),
    endpoints: (await agentEndpoints(h)).map((e) => e.id).sort(),
    runc: ls(runcDir(h)),
    dirs: ls(containersDir(h)),
  });

  let c1: ContainerJson;
  let c2: ContainerJson;
  let c3: ContainerJson;

  t.test('containers on one network reach each other across hosts, never across networks', async (t) => {
    c1 = await run('h1', ['--name', 'c1', '--net', 'net1', 'busybox']);
    c2 = await run('h3', ['--name', 'c2', '--net', 'net1', 'busybox']);
    c3 = await run('h2', ['--name', 'c3', '--net', 'net2', 'busybox']);
    t.equal(c1.status, 'running');
    t.match(c1.networks, [{ network: 'net1', ifname: 'eth0', ip: /^\d+\.\d+\.\d+\.\d+$/ }]);
    t.equal(c1.sandbox, `/run/netns/vxnet-s-${c1.id.slice(0, 12)}`, 'sandbox named as on any host (the machine has its own /run/netns)');
    const ip2 = c2.networks[0]!.ip;
    t.ok((await until(() => ping('h1', 'c1', ip2, 2), 4000, 200)).value, `c1 (h1) pings c2 (h3) at ${ip2}`);
    t.ok(await ping('h3', 'c2', c1.networks[0]!.ip), 'c2 pings c1 back');
    t.notOk(await ping('h1', 'c1', c3.networks[0]!.ip), 'c1 cannot reach c3 (net2)');
    const files = await on('h1', ['exec', 'c1', 'cat', '/etc/hosts', '/etc/resolv.conf', '/etc/hostname']);
    t.match(files.stdout, new RegExp(`${c1.networks[0]!.ip.replace(/\./g, '\\.')}\\s+${c1.id.slice(0, 12)} c1`), '/etc/hosts names the container');
    t.match(files.stdout, new RegExp(`nameserver ${c1.networks[0]!.gateway.replace(/\./g, '\\.')}`), 'resolv.conf points at the gateway (the agent\'s DNS)');
  });

  t.test('a container on two networks reaches both', async (t) => {
    const c4 = await run('h2', ['--name', 'c4', '--net', 'net1', '--net', 'net2', '--alias', 'both', 'busybox']);
    t.same(c4.networks.map((n) => [n.network, n.ifname]), [['net1', 'eth0'], ['net2', 'eth1']]);
    t.ok((await until(() => ping('h2', 'c4', c2.networks[0]!.ip, 2), 4000, 200)).value, 'c4 reaches c2 on net1');
    t.ok(await ping('h2', 'c4', c3.networks[0]!.ip), 'c4 reaches c3 on net2');
  });

  t.test('--net none: loopback only; --net host: the host\'s eth0; --net container: the same sandbox', async (t) => {
    await run('h1', ['--name', 'nonet', '--net', 'none', 'busybox']);
    const links = await on('h1', ['exec', 'nonet', 'ip', '-o', 'link']);
    t.equal(links.code, 0);
    t.same(links.stdout.trim().split('\n').map((l) => l.split(':')[1]?.trim()), ['lo'], 'only lo');
    t.match(links.stdout, /lo: <LOOPBACK,UP/, 'lo is up');
    t.match((await on('h1', ['exec', 'nonet', 'cat', '/etc/resolv.conf'])).stdout, /^(?![\s\S]*nameserver)/, 'no name server');

    const hostNet = await run('h1', ['--name', 'hostnet', '--net', 'host', 'busybox']);
    t.equal(hostNet.sandbox, null);
    const addrs = await on('h1', ['exec', 'hostnet', 'ip', '-o', '-4', 'addr', 'show', 'eth0']);
    t.match(addrs.stdout, /inet 198\.51\.100\.1\//, 'sees h1\'s eth0 with its underlay address');

    await run('h1', ['--name', 'shared', '--net', 'container:c1', 'busybox']);
    const shared = await on('h1', ['exec', 'shared', 'ip', '-o', '-4', 'addr', 'show', 'eth0']);
    t.match(shared.stdout, new RegExp(`inet ${c1.networks[0]!.ip.replace(/\./g, '\\.')}/`), 'shares c1\'s address');
  });

  t.test('exec passes the exit code and output through; logs; attached run', async (t) => {
    const three = await on('h1', ['exec', 'c1', 'sh', '-c', 'echo out; echo err >&2; exit 3']);
    t.equal(three.code, 3, 'exit code 3');
    t.equal(three.stdout, 'out\n');
    t.equal(three.stderr, 'err\n');
    t.equal((await on('h1', ['exec', 'c1', 'nosuchcmd'])).code === 0, false, 'a missing command fails');

    await run('h1', ['--name', 'echoer', 'busybox', 'sh', '-c', 'echo hello-from-echoer; sleep 300']);
    const logs = await until(async () => (await on('h1', ['logs', 'echoer'])).stdout.includes('hello-from-echoer'), 3000, 100);
    t.ok(logs.value, 'logs show what the command printed');

    const attached = await on('h1', ['run', '--rm', 'busybox', 'sh', '-c', 'echo attached-out; exit 5']);
    t.equal(attached.code, 5, 'run without -d exits with the command\'s code');
    t.match(attached.stdout, /attached-out/);
  });

  t.test('stop and start keep the name, sandbox and address', async (t) => {
    const stop = await on('h3', ['stop', 'c2']);
    t.equal(stop.code, 0, stop.stderr);
    const stopped = await inspect('h3', 'c2');
    t.equal(stopped.status, 'exited');
    t.equal(stopped.exitCode, 143, 'the default command ends on SIGTERM');
    t.equal((await on('h3', ['exec', 'c2', 'true'])).code, 1, 'exec in a stopped container fails');
    t.match((await on('h3', ['ps'])).stdout, /^(?![\s\S]*\bc2\b)/, 'not in ps');
    t.match((await on('h3', ['ps', '-a'])).stdout, /Exited \(143\)[\s\S]*c2/, 'in ps -a');
    const start = await on('h3', ['start', 'c2']);
    t.equal(start.code, 0, start.stderr);
    const again = await inspect('h3', 'c2');
    t.equal(again.status, 'running');
    t.equal(again.id, c2.id, 'same container');
    t.equal(again.networks[0]?.ip, c2.networks[0]?.ip, 'same address');
    t.ok((await until(() => ping('h1', 'c1', c2.networks[0]!.ip, 2), 4000, 200)).value, 'reachable again');
  });

  t.test('net connect / disconnect on a running container', async (t) => {
    const conn = await on('h1', ['net', 'connect', '--alias', 'c1b', 'net2', 'c1']);
    t.equal(conn.code, 0, conn.stderr);
    const c = await inspect('h1', 'c1');
    t.same(c.networks.map((n) => [n.network, n.ifname]), [['net1', 'eth0'], ['net2', 'eth1']]);
    t.match((await on('h1', ['exec', 'c1', 'cat', '/etc/hosts'])).stdout, new RegExp(`${c.networks[1]!.ip.replace(/\./g, '\\.')}\\s.*c1b`), '/etc/hosts updated in place');
    t.ok((await until(() => ping('h1', 'c1', c3.networks[0]!.ip, 2), 4000, 200)).value, 'c1 now reaches c3 on net2');
    const again = await on('h1', ['net', 'connect', 'net2', 'c1']);
    t.equal(again.code, 1);
    t.match(again.stderr, /already connected/);
    const disc = await on('h1', ['net', 'disconnect', 'net2', 'c1']);
    t.equal(disc.code, 0, disc.stderr);
    t.notMatch((await on('h1', ['exec', 'c1', 'ip', '-o', 'link'])).stdout, /eth1/, 'eth1 gone');
    t.notOk(await ping('h1', 'c1', c3.networks[0]!.ip), 'c3 unreachable again');
  });

  t.test('rm removes everything the container had', async (t) => {
    const before = await footprint('h1');
    const tmp = await run('h1', ['--name', 'tmp1', '--net', 'net1', 'busybox']);
    const refused = await on('h1', ['rm', 'tmp1']);
    t.equal(refused.code, 1, 'rm of a running container is refused');
    t.match(refused.stderr, /is running/);
    const rm = await on('h1', ['rm', '-f', 'tmp1']);
    t.equal(rm.code, 0, rm.stderr);
    t.same(await footprint('h1'), before, 'no sandbox, endpoint, runc state or directory left');
    t.notOk((await agentEndpoints('h1')).some((e) => e.container === tmp.id), 'agent endpoint gone');
    t.notOk(existsSync(`/sys/fs/cgroup/pids/vxnet-${tmp.id}`), 'cgroup gone');
    t.equal((await on('h1', ['inspect', 'tmp1'])).code, 1, 'unknown afterwards');
  });

  t.test('an engine killed with SIGKILL and started again lists its running containers', async (t) => {
    const killed = await vxnet(['lab', 'kill', 'h1', 'engine', '--signal', 'KILL'], env);
    t.equal(killed.code, 0, killed.stderr);
    const restarted = await vxnet(['lab', 'restart', 'h1', 'engine'], env);
    t.equal(restarted.code, 0, `engine back: ${restarted.stderr}`);
    const ps = await on('h1', ['ps', '--json']);
    const names = (JSON.parse(ps.stdout) as ContainerJson[]).map((c) => c.name).sort();
    for (const n of ['c1', 'nonet', 'hostnet', 'shared', 'echoer']) t.ok(names.includes(n), `${n} listed again`);
    t.equal((await inspect('h1', 'c1')).pid, c1.pid, 'same process');
    t.ok(await ping('h1', 'c1', c2.networks[0]!.ip, 2), 'c1 still answers exec and reaches c2');
    const stop = await on('h1', ['stop', '-t', '1', 'echoer']);
    t.equal(stop.code, 0, 'an adopted container can be stopped');
    t.equal((await inspect('h1', 'echoer')).exitCode, 137, 'sleep as pid 1 ignores SIGTERM: killed after the timeout');
  });

  t.test('every bad run is a one-line error, exit 1, and leaves nothing behind', async (t) => {
    const taken = c1.networks[0]!.ip;
    const cases: Array<[string, string[], RegExp]> = [
      ['unknown network', ['--name', 'bad1', '--net', 'nosuchnet', 'busybox'], /could not create container "bad1": network "nosuchnet" not found/],
      ['taken name', ['--name', 'c1', '--net', 'net1', 'busybox'], /name is in use/],
      ['name taken on another host', ['--name', 'c2', '--net', 'net1', 'busybox'], /could not attach "c2" to network "net1": the name is taken/],
      ['IP outside the host subnet', ['--name', 'bad2', '--net', 'net1', '--ip', '10.254.254.254', 'busybox'], /outside this host's subnet/],
      ['IP taken', ['--name', 'bad3', '--net', 'net1', '--ip', taken, 'busybox'], /in use/],
      ['not an IP', ['--name', 'bad4', '--net', 'net1', '--ip', 'banana', 'busybox'], /banana/],
      ['unknown image', ['--name', 'bad5', '--net', 'net1', 'nosuchimage'], /no image "nosuchimage"/],
      ['bad flag', ['--bogus', 'busybox'], /unknown option '--bogus'/],
      ['bad name', ['--name', '-x', 'busybox'], /invalid container name|unknown option/],
      ['host combined', ['--name', 'bad6', '--net', 'net1', '--net', 'host', 'busybox'], /cannot be combined/],
      ['missing command', ['--name', 'bad7', '--net', 'net1', 'busybox', '/nosuchcmd'], /could not start container "bad7"/],
      ['missing rootfs', ['--name', 'bad8', '--rootfs', '/nonexistent-dir', 'sh'], /not a directory/],
      ['join a missing container', ['--name', 'bad9', '--net', 'container:nope', 'busybox'], /no such container: nope/],
    ];
    const before = await footprint('h1');
    for (const [what, args, msg] of cases) {
      const r = await on('h1', ['run', '-d', ...args]);
      t.equal(r.code, 1, `${what}: exit 1`);
      t.equal(r.stderr.trimEnd().split('\n').length, 1, `${what}: one line on stderr`);
      t.match(r.stderr, msg, `${what}: ${r.stderr.trimEnd()}`);
      t.notMatch(r.stderr, /\n\s+at /, `${what}: no stack trace`);
      t.equal(r.stdout, '', `${what}: nothing on stdout`);
    }
    t.same(await footprint('h1'), before, 'no netns, endpoint, runc container or state directory left');
  });

  t.test('embedded DNS: names across hosts, only on shared networks, aliases rotate, removal within 1 s, forwarding', async (t) => {
    const exec = (h: string, c: string, cmd: string[]) => unixExec(host(h).engine.socket, c, { cmd });
    const ip2 = c2.networks[0]!.ip;
    t.equal((await on('h1', ['exec', 'c1', 'ping', '-c1', '-W2', 'c2'])).code, 0, 'c1 (h1) pings c2 (h3) by name');
    const ns = await exec('h1', 'c1', ['nslookup', 'c2']);
    t.match(ns.stdout, new RegExp(`Address:\\s+${ip2.replace(/\./g, '\\.')}`), `nslookup c2 gives ${ip2}`);
    const c3name = await exec('h1', 'c1', ['nslookup', 'c3']);
    t.not(c3name.exitCode, 0, 'c3 (net2 only) does not resolve from c1');
    t.match(c3name.stdout + c3name.stderr, /NXDOMAIN|can't find/);
    const c3ping = await on('h1', ['exec', 'c1', 'ping', '-c1', '-W1', 'c3']);
    t.not(c3ping.code, 0, 'ping c3 by name fails');
    t.match(c3ping.stdout + c3ping.stderr, /bad address/);

    // two containers on different hosts share an alias: both addresses, order rotated
    const a1 = await run('h2', ['--name', 'rr1', '--net', 'net1', '--alias', 'shared', 'busybox']);
    const a2 = await run('h3', ['--name', 'rr2', '--net', 'net1', '--alias', 'shared', 'busybox']);
    const both = [a1.networks[0]!.ip, a2.networks[0]!.ip].sort();
    const firsts = new Set<string>();
    for (let i = 0; i < 4; i++) {
      const out = (await exec('h1', 'c1', ['nslookup', 'shared'])).stdout;
      const addrs = [...out.matchAll(/Address:\s+(\d+\.\d+\.\d+\.\d+)$/gm)].map((m) => m[1] as string).filter((a) => both.includes(a));
      t.same([...addrs].sort(), both, `query ${i}: both addresses of "shared"`);
      if (addrs[0]) firsts.add(addrs[0]);
    }
    t.equal(firsts.size, 2, 'the first address rotates between queries');

    // removal: unresolvable everywhere within about a second
    const rm = await on('h3', ['rm', '-f', 'rr2']);
    t.equal(rm.code, 0);
    const t0 = Date.now();
    const gone = await until(async () => !((await exec('h1', 'c1', ['nslookup', 'rr2'])).stdout).includes(a2.networks[0]!.ip), 5000, 20);
    t.ok(gone.value, 'rr2 no longer resolves from c1');
    t.ok(Date.now() - t0 < 1500, `gone ${Date.now() - t0} ms after rm returned (1 s goal, plus one exec)`);

    // other names go to the upstream (a resolver this test runs on the lab underlay)
    const upNs = `${prefix}updns`;
    execFileSync('ip', ['netns', 'add', upNs]);
    execFileSync('ip', ['-n', `${prefix}sw`, 'link', 'add', 'p-updns', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', upNs]);
    execFileSync('ip', ['-n', `${prefix}sw`, 'link', 'set', 'p-updns', 'master', 'br0', 'up']);
    execFileSync('ip', ['-n', upNs, 'addr', 'add', `${UPSTREAM}/24`, 'dev', 'eth0']);
    execFileSync('ip', ['-n', upNs, 'link', 'set', 'eth0', 'up']);
    const fake = spawn('nsenter', [`--net=/run/netns/${upNs}`, '--', process.execPath, UPSTREAM_DNS, UPSTREAM, '53'], { stdio: ['ignore', 'pipe', 'inherit'] });
    t.teardown(() => {
      fake.kill('SIGTERM');
    });
    await new Promise((resolve) => fake.stdout.once('data', resolve));
    const fwd = await exec('h1', 'c1', ['nslookup', 'www.upstream.test']);
    t.match(fwd.stdout, /203\.0\.113\.7/, 'www.upstream.test answered by the upstream through the agent');
    const nx = await exec('h1', 'c1', ['nslookup', 'nothing.example.invalid']);
    t.not(nx.exitCode, 0, "the upstream's NXDOMAIN comes back");
  });

  t.test("a dead host's containers stop resolving within the liveness TTL + 1 s, and return with it", async (t) => {
    const exec = (c: string, cmd: string[]) => unixExec(host('h1').engine.socket, c, { cmd });
    const ip2 = c2.networks[0]!.ip;
    const resolves = async () => ((await exec('c1', ['nslookup', 'c2'])).stdout).includes(ip2);
    t.ok(await resolves(), 'c2 (h3) resolves from c1 (h1)');
    const t0 = Date.now();
    const killed = await vxnet(['lab', 'kill', 'h3', 'agent', '--signal', 'KILL'], env); // h3 "dies": no revoke, its liveness lease (10 s) runs out
    t.equal(killed.code, 0, killed.stderr);
    const gone = await until(async () => !(await resolves()), 20_000, 100);
    t.ok(gone.value, 'c2 stops resolving');
    t.ok(Date.now() - t0 <= 12_000, `gone ${Date.now() - t0} ms after h3's agent died (liveness TTL 10 s + 1 s, plus one exec)`);
    const back = await vxnet(['lab', 'restart', 'h3', 'agent'], env);
    t.equal(back.code, 0, back.stderr);
    t.ok((await until(resolves, 15_000, 100)).value, 'c2 resolves again once h3 is back');
    t.ok(await ping('h1', 'c1', 'c2', 2), 'and answers ping by name');
  });

  t.test('lab down leaves no container process, sandbox, runc state or cgroup', async (t) => {
    const pids: number[] = [];
    const ids: string[] = [];
    for (const h of ['h1', 'h2', 'h3']) {
      for (const c of JSON.parse((await on(h, ['ps', '--json'])).stdout) as ContainerJson[]) {
        ids.push(c.id);
        if (c.pid) pids.push(c.pid);
      }
    }
    t.ok(pids.length >= 6, `${pids.length} container processes before`);
    const down = await vxnet(['lab', 'down', '--name', lab], env);
    t.equal(down.code, 0, down.stderr);
    t.same(pids.filter((p) => existsSync(`/proc/${p}`) && !readFileSync(`/proc/${p}/stat`, 'utf8').includes(') Z')), [], 'every container process is gone');
    t.same(netnsWithPrefix(prefix), [], 'no namespace of the lab left');
    t.same(ids.filter((id) => existsSync(`/sys/fs/cgroup/pids/vxnet-${id}`)), [], 'no cgroup left');
    t.notOk(existsSync(join(home, 'labs', lab)), 'lab directory (with the runc state) removed');
  });
}
