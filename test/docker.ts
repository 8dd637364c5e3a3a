/**
 * vxnet as Docker's network and IPAM plugin (issue 11), end to end with the real
 * dockerd 20.10 of Debian's docker.io: a 3-host lab with a dockerd per host
 * (`vxnet lab up --docker`), the image vxnet-busybox imported from a tarball, no
 * registry. The Docker network is bound to a vxnet network by its CIDR on each host
 * (`docker network create -d vxnet --ipam-driver vxnet --subnet CIDR NAME`).
 *
 * test-needs: docker.io (scripts/test.sh installs it for this file only)
 */
import t from 'tap';
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { VXNET_BIN, isRoot, setupFailure, tempHome, uniqueLabName, vxnet } from './helpers/cli.js';
import { CniRuntime } from './helpers/cni-harness.js';
import { docker, dockerMissing } from './helpers/docker.js';
import { hostNetns, labHost, onHost, readLab, tryOnHost, type HostJson, type LabJson } from './helpers/lab.js';
import { until } from './helpers/wait.js';

interface NetJson {
  id: string;
  subnet: string;
}
interface LeaseJson {
  network: string;
  subnet: string;
  host: string;
}
interface NetDetailJson {
  network: NetJson;
  hosts: Array<{ host: string; subnet: string; gateway: string; endpoints: Array<{ ip: string; name?: string | null }> }>;
}

const IMAGE = 'vxnet-busybox:latest';
const skip = !isRoot ? 'the lab needs root (namespaces, dockerd)' : dockerMissing();

if (skip) {
  t.plan(0, `skip: ${skip}`);
} else {
  const { home, cleanup } = tempHome('docker');
  const env = { VXNET_HOME: home };
  const lab = uniqueLabName('dk');
  t.teardown(async () => {
    await vxnet(['lab', 'down', '--name', lab], env, 120_000);
    cleanup();
  });
  const failed = setupFailure(lab, env, cleanup);
  const ok = async (args: string[]) => {
    const r = await vxnet(args, env);
    if (r.code !== 0) throw new Error(`vxnet ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
    return r.stdout;
  };
  const rootRuleset = () => execFileSync('nft', ['list', 'ruleset'], { encoding: 'utf8' });
  const rootRulesetBefore = rootRuleset();
  const up = await vxnet(['lab', 'up', '--name', lab, '--hosts', '3', '--docker'], env, 180_000);
  if (up.code !== 0) await failed(new Error(`lab up --docker: ${up.stderr}`));
  const state: LabJson = readLab(home, lab);
  const h = (name: string): HostJson => labHost(state, name);
  const cliConfig = `${home}/docker-cli`;
  const dk = (host: string, args: string[], timeoutMs?: number) => docker(h(host), args, timeoutMs, cliConfig);
  const dok = async (host: string, args: string[], timeoutMs?: number) => {
    const r = await dk(host, args, timeoutMs);
    if (r.code !== 0) throw new Error(`docker ${args.join(' ')} on ${host} failed (${r.code}): ${r.stderr.trim()}`);
    return r.stdout.trim();
  };
  const run = (host: string, name: string, network: string, extra: string[] = []) =>
    dok(host, ['run', '-d', '--init', '--pull', 'never', '--network', network, '--name', name, ...extra, IMAGE, 'sleep', '3600']);
  const ipOf = async (host: string, c: string, network: string) => dok(host, ['inspect', '-f', `{{(index .NetworkSettings.Networks "${network}").IPAddress}}`, c]);
  const pings = async (host: string, c: string, target: string) => (await dk(host, ['exec', c, 'ping', '-c1', '-W1', target], 10_000)).code === 0;
  const leases = async (): Promise<LeaseJson[]> => JSON.parse(await ok(['lease', 'ls', '--json'])) as LeaseJson[];
  const inLease = (ip: string, subnet: string) => {
    const [base, len] = subnet.split('/');
    const n = (a: string) => a.split('.').reduce((acc, o) => acc * 256 + Number(o), 0);
    const mask = 2 ** (32 - Number(len));
    return Math.floor(n(ip) / mask) === Math.floor(n(base ?? '') / mask);
  };

  // two vxnet networks; each bound on the hosts that use it
  const net1 = JSON.parse(await ok(['net', 'create', '--json', 'net1'])) as NetJson;
  const net2 = JSON.parse(await ok(['net', 'create', '--json', 'net2'])) as NetJson;
  const bind = (host: string, net: NetJson, name: string) => dok(host, ['network', 'create', '-d', 'vxnet', '--ipam-driver', 'vxnet', '--subnet', net.subnet, name]);
  for (const host of ['h1', 'h2']) await bind(host, net1, 'dnet1');
  await bind('h2', net2, 'dnet2');

  await run('h1', 'c1', 'dnet1');
  await run('h2', 'c2', 'dnet1');
  const c1ip = await ipOf('h1', 'c1', 'dnet1');

  t.test('a Docker network bound to a vxnet network: local scope, the network\'s CIDR, this host\'s gateway', async (t) => {
    const inspect = JSON.parse(await dok('h1', ['network', 'inspect', 'dnet1'])) as Array<{ Scope: string; Driver: string; IPAM: { Driver: string; Config: Array<{ Subnet: string; Gateway?: string }> } }>;
    t.match(inspect[0], { Scope: 'local', Driver: 'vxnet', IPAM: { Driver: 'vxnet', Config: [{ Subnet: net1.subnet }] } });
    const lease = (await leases()).find((l) => l.network === 'net1' && l.host === 'h1');
    t.ok(lease, 'h1 holds a lease of net1');
    const gw = inspect[0]?.IPAM.Config[0]?.Gateway;
    if (gw) t.ok(inLease(gw, lease?.subnet ?? ''), `the gateway ${gw} is in h1's lease ${lease?.subnet}`);
    t.ok(inLease(c1ip, lease?.subnet ?? ''), `c1's address ${c1ip} comes from h1's lease ${lease?.subnet}`);
  });

  t.test('c2@h2 reaches c1@h1 by IP and by name, over vxnet', async (t) => {
    t.ok((await until(() => pings('h2', 'c2', c1ip), 10_000, 200)).value, `docker exec c2 ping ${c1ip}`);
    t.ok((await until(() => pings('h2', 'c2', 'c1'), 10_000, 200)).value, 'docker exec c2 ping c1 (by name, across hosts)');
    const ns = await dk('h2', ['exec', 'c2', 'nslookup', 'c1'], 10_000);
    t.match(ns.stdout, new RegExp(`Address:? .*${c1ip.replace(/\./g, '\\.')}`), 'nslookup c1 gives c1\'s address');
    t.ok(await pings('h1', 'c1', 'c2'), 'and back: c1 pings c2 by name');
  });

  t.test("vxnet's engine, Docker and CNI containers on one vxnet network reach each other by name across hosts", async (t) => {
    // engine container e3 and a CNI container k3 (the project's libcni-like runtime, helpers/cni-harness.ts) on h3; Docker's c1@h1, c2@h2
    const e3 = JSON.parse(await ok(['-H', 'h3', 'inspect', '--json', (await ok(['-H', 'h3', 'run', '-d', '--name', 'e3', '--net', 'net1', 'busybox', 'sleep', '3600'])).trim()])) as { id: string };
    const binDir = join(home, 'cni-h3');
    await ok(['lab', 'exec', h('h3').name, '--', process.execPath, VXNET_BIN, '--lab', lab, 'cni', 'install', '--dir', binDir, '--conf-dir', join(home, 'cni-h3.d'), 'net1']);
    const rt = new CniRuntime(h('h3'), { cniVersion: '1.0.0', name: 'net1', plugins: [{ type: 'vxnet', network: 'net1', capabilities: { aliases: true } }] }, [binDir]);
    onHost(h('h3'), ['ip', 'netns', 'add', 'k3']);
    const k3 = { containerId: 'k3'.padEnd(64, '0'), netns: '/run/netns/k3', ifname: 'eth0', args: { K8S_POD_NAME: 'k3' } };
    const res = await rt.add(k3);
    const k3ip = String((res.ips as Array<{ address: string }>)[0]?.address).split('/')[0] as string;
    const inK3 = (args: string[]) => tryOnHost(h('h3'), ['nsenter', `--net=${k3.netns}`, '--', ...args]);
    const k3resolves = (name: string) => /Address: (\d+\.\d+\.\d+\.\d+)\s*$/m.exec(inK3(['busybox', 'nslookup', name, '169.254.169.53']).stdout)?.[1];
    const enginePings = async (target: string) => (await vxnet(['-H', 'h3', 'exec', 'e3', 'ping', '-c1', '-W1', target], env)).code === 0;

    t.ok((await until(() => pings('h2', 'c2', 'k3'), 10_000, 200)).value, 'Docker c2@h2 pings the CNI container k3@h3 by name');
    t.ok((await until(() => pings('h2', 'c2', 'e3'), 10_000, 200)).value, 'Docker c2@h2 pings the engine container e3@h3 by name');
    t.ok((await until(() => enginePings('c1'), 10_000, 200)).value, 'engine e3@h3 pings Docker c1@h1 by name');
    t.ok(await enginePings('k3'), 'engine e3 pings the CNI container k3 by name');
    t.equal(k3resolves('c1'), c1ip, "k3's DNS query for c1 (Docker, h1) gives c1's address");
    const c2ip = await ipOf('h2', 'c2', 'dnet1');
    t.equal(k3resolves('c2'), c2ip, 'and for c2 (Docker, h2)');
    t.ok(inK3(['ping', '-c1', '-W1', c1ip]).status === 0 && inK3(['ping', '-c1', '-W1', c2ip]).status === 0, 'k3 pings both Docker containers');
    t.equal(inK3(['ping', '-c1', '-W1', k3resolves('e3') ?? 'none']).status, 0, 'k3 pings e3 at the address its name resolves to');
    t.match((await dk('h2', ['exec', 'c2', 'nslookup', 'k3'], 10_000)).stdout, new RegExp(`Address:? .*${k3ip.replace(/\./g, '\\.')}`), `c2 resolves k3 to its CNI address ${k3ip}`);
    await rt.del(k3);
    onHost(h('h3'), ['ip', 'netns', 'del', 'k3']);
    await ok(['-H', 'h3', 'rm', '-f', e3.id]);
  });

  t.test('a container on another vxnet network neither resolves nor reaches c1', async (t) => {
    await run('h2', 'x2', 'dnet2');
    const ns = await dk('h2', ['exec', 'x2', 'nslookup', 'c1'], 15_000);
    t.notMatch(ns.stdout, new RegExp(c1ip.replace(/\./g, '\\.')), `x2 (dnet2) does not resolve c1: ${ns.stdout.trim().split('\n').at(-1)}`);
    t.notOk(await pings('h2', 'x2', c1ip), `x2 does not reach c1 at ${c1ip}`);
  });

  t.test('docker run --ip: inside this host\'s lease works, outside is refused with a readable error', async (t) => {
    const l1 = (await leases()).find((l) => l.network === 'net1' && l.host === 'h1') as LeaseJson;
    const l2 = (await leases()).find((l) => l.network === 'net1' && l.host === 'h2') as LeaseJson;
    const inside = l1.subnet.replace(/\.0\/\d+$/, '.77');
    await run('h1', 'fixed', 'dnet1', ['--ip', inside]);
    t.equal(await ipOf('h1', 'fixed', 'dnet1'), inside, `--ip ${inside} (in h1's lease ${l1.subnet})`);
    t.ok((await until(() => pings('h2', 'c2', 'fixed'), 10_000, 200)).value, 'and c2 reaches it by name');
    const outside = l2.subnet.replace(/\.0\/\d+$/, '.77');
    const before = await dok('h1', ['ps', '-a', '-q']);
    const r = await dk('h1', ['run', '-d', '--pull', 'never', '--network', 'dnet1', '--ip', outside, '--name', 'badip', IMAGE, 'sleep', '3600']);
    t.not(r.code, 0, `--ip ${outside} (h2's lease) on h1 is refused`);
    t.match(r.stderr, new RegExp(outside.replace(/\./g, '\\.')), `the error names the address: ${r.stderr.trim()}`);
    t.match(r.stderr, /lease|subnet|outside/i, 'and says why');
    // docker run creates the container before starting it: the failed start leaves it "Created"
    await dk('h1', ['rm', '-f', 'badip']);
    t.equal(await dok('h1', ['ps', '-a', '-q']), before, 'nothing left once the failed container is removed');
    await dok('h1', ['rm', '-f', 'fixed']);
  });

  t.test('docker rm -f and docker network rm leave no veth, route, neighbour, FDB or record; vxnet net rm then leaves the host as it was', async (t) => {
    const net3 = JSON.parse(await ok(['net', 'create', '--json', 'net3'])) as NetJson;
    const net1ns = `vxnet-${net1.id.slice(0, 12)}`;
    t.ok(hostNetns(h('h2')).includes(net1ns), `net1's namespace on h2 is ${net1ns}`);
    const links = (host: string, ns?: string) => (JSON.parse(onHost(h(host), ['ip', '-j', ...(ns ? ['-n', ns] : []), 'link', 'show'])) as Array<{ ifname: string }>).map((l) => l.ifname).sort();
    const routes = (host: string) => onHost(h(host), ['ip', 'route', 'show', 'table', 'all']).split('\n').filter(Boolean).sort();
    const dockerState = () => {
      try {
        return readFileSync(join(h('h2').agent.stateDir, 'docker.json'), 'utf8');
      } catch {
        return '';
      }
    };
    const before = { links: links('h2'), net1Links: links('h2', net1ns), routes: routes('h2'), netns: hostNetns(h('h2')) };

    await bind('h2', net3, 'dnet3');
    await run('h2', 'gone', 'dnet3');
    await run('h2', 'gone1', 'dnet1');
    const dnet3Id = await dok('h2', ['network', 'inspect', '-f', '{{.Id}}', 'dnet3']);
    const endpointIds = [
      await dok('h2', ['inspect', '-f', '{{(index .NetworkSettings.Networks "dnet3").EndpointID}}', 'gone']),
      await dok('h2', ['inspect', '-f', '{{(index .NetworkSettings.Networks "dnet1").EndpointID}}', 'gone1']),
    ];
    const goneIp = await ipOf('h2', 'gone1', 'dnet1');
    const goneMac = await dok('h2', ['inspect', '-f', '{{(index .NetworkSettings.Networks "dnet1").MacAddress}}', 'gone1']);
    t.ok((await until(() => pings('h1', 'c1', 'gone1'), 10_000, 200)).value, 'gone1@h2 is reachable from c1@h1 first');
    const detail = async (net: string) => JSON.parse(await ok(['net', 'inspect', '--json', net])) as NetDetailJson;
    const endpointIps = async (net: string) => (await detail(net)).hosts.flatMap((x) => x.endpoints.map((e) => e.ip));
    t.ok((await endpointIps('net1')).includes(goneIp), 'the store has gone1\'s endpoint');
    t.ok([dnet3Id, ...endpointIds].every((id) => dockerState().includes(id)), 'the plugin\'s docker.json has dnet3 and both endpoints');

    await dok('h2', ['rm', '-f', 'gone', 'gone1']);
    await dok('h2', ['network', 'rm', 'dnet3']);
    t.notOk((await endpointIps('net1')).includes(goneIp), 'gone1\'s endpoint record is gone from the store');
    t.same(await endpointIps('net3'), [], 'net3 has no endpoint left');
    t.notOk([dnet3Id, ...endpointIds].some((id) => dockerState().includes(id)), 'and docker.json has none of their ids');
    t.notOk((await dk('h2', ['network', 'inspect', 'dnet3'])).code === 0, 'dnet3 is gone from Docker');
    t.same(links('h2', net1ns), before.net1Links, 'net1\'s namespace on h2 has the links it had (gone1\'s veth end is off the bridge)');
    t.same(links('h2').filter((l) => l.startsWith('vxd')), [], 'no container end (vxd…) is left in h2\'s namespace');
    for (const ns of hostNetns(h('h1')).filter((n) => n.startsWith('vxnet-'))) {
      t.notMatch(onHost(h('h1'), ['ip', '-n', ns, 'neigh', 'show']), new RegExp(`^${goneIp.replace(/\./g, '\\.')} `, 'm'), `no neighbour entry for ${goneIp} in ${ns} on h1`);
      t.notMatch(onHost(h('h1'), ['bridge', '-n', ns, 'fdb', 'show']), new RegExp(goneMac, 'i'), `no FDB entry for ${goneMac} in ${ns} on h1`);
    }

    // the host stays joined to net3 (its lease, namespace, uplink) until the vxnet network goes
    await ok(['net', 'rm', 'net3']);
    const back = await until(() => JSON.stringify(links('h2')) === JSON.stringify(before.links) && JSON.stringify(hostNetns(h('h2'))) === JSON.stringify(before.netns), 15_000, 100);
    t.ok(back.value, `after vxnet net rm net3, h2 has the links and namespaces it had (${back.ms} ms)`);
    t.same(routes('h2'), before.routes, 'and the routes');
  });

  t.test('a network with Docker\'s default IPAM, or on a host whose agent is down, is refused and leaves nothing', async (t) => {
    const leasesBefore = JSON.stringify((await leases()).map((l) => [l.network, l.host, l.subnet]).sort());
    const nets = async (host: string) => dok(host, ['network', 'ls', '-q', '--filter', 'driver=vxnet']);
    const before1 = await nets('h1');
    const r = await dk('h1', ['network', 'create', '-d', 'vxnet', '--subnet', net2.subnet, 'defipam']);
    t.not(r.code, 0, 'docker network create -d vxnet without --ipam-driver vxnet fails');
    t.match(r.stderr, /vxnet/i, `with a message that names vxnet: ${r.stderr.trim()}`);
    t.match(r.stderr, /ipam/i, 'and its IPAM');
    t.equal(await nets('h1'), before1, 'no Docker network was left on h1');

    await ok(['lab', 'kill', 'h3', 'agent']);
    const t0 = Date.now();
    const d = await dk('h3', ['network', 'create', '-d', 'vxnet', '--ipam-driver', 'vxnet', '--subnet', net1.subnet, 'down1'], 90_000);
    t.not(d.code, 0, `with h3's agent stopped, docker network create fails (after ${Date.now() - t0} ms)`);
    t.match(d.stderr, /vxnet/i, `with a message that names the plugin: ${d.stderr.trim()}`);
    t.equal(await dok('h3', ['network', 'ls', '-q', '--filter', 'name=down1']), '', 'no Docker network was left on h3');
    await ok(['lab', 'restart', 'h3', 'agent']);
    t.equal(JSON.stringify((await leases()).map((l) => [l.network, l.host, l.subnet]).sort()), leasesBefore, 'no lease was taken by either');
  });

  t.test('agent SIGKILL and restart while c2 pings c1: at most one ping lost; later calls still work', async (t) => {
    const count = 40;
    const pinging = dk('h2', ['exec', 'c2', 'ping', '-c', String(count), '-i', '0.25', '-W', '1', 'c1'], 60_000);
    await new Promise((r) => setTimeout(r, 2000));
    await ok(['lab', 'kill', 'h1', 'agent', '--signal', 'KILL']);
    await ok(['lab', 'restart', 'h1', 'agent']);
    const p = await pinging;
    const m = /(\d+) packets transmitted, (\d+) (?:packets )?received/.exec(p.stdout);
    t.ok(m, `ping summary: ${p.stdout.trim().split('\n').at(-2)}`);
    const lost = Number(m?.[1]) - Number(m?.[2]);
    t.ok(lost <= 1, `${lost} of ${m?.[1]} pings lost across the agent's SIGKILL and restart`);
    // the restarted agent still knows Docker's ids: a new container, and removing an old one
    await run('h1', 'after', 'dnet1');
    t.ok((await until(() => pings('h2', 'c2', 'after'), 10_000, 200)).value, 'a container started after the restart is reachable by name');
    await dok('h1', ['rm', '-f', 'after']);
  });

  t.test('dockerd restart: --restart always containers come back on the network, reachable', async (t) => {
    await run('h1', 'r1', 'dnet1', ['--restart', 'always']);
    t.ok((await until(() => pings('h2', 'c2', 'r1'), 10_000, 200)).value, 'r1@h1 reachable by name before');
    const t0 = Date.now();
    await ok(['lab', 'restart', 'h1', 'docker']);
    const back = await until(async () => (await dk('h1', ['inspect', '-f', '{{.State.Running}}', 'r1'])).stdout.trim() === 'true', 30_000, 200);
    t.ok(back.value, `r1 runs again after dockerd's restart (${Date.now() - t0} ms)`);
    t.ok((await until(() => pings('h2', 'c2', 'r1'), 15_000, 200)).value, 'and c2@h2 reaches it by name');
    t.ok((await until(() => pings('h1', 'r1', 'c2'), 5000, 200)).value, 'and it reaches c2');
  });

  t.test('Docker\'s rules stayed in the lab: the root namespace\'s ruleset is untouched', async (t) => {
    t.match(onHost(h('h1'), ['iptables', '-S']), /-N DOCKER\b/, 'Docker\'s chains are in h1\'s namespace');
    t.equal(rootRuleset(), rootRulesetBefore, 'the root namespace\'s nftables ruleset is as it was before the lab');
  });

  t.test('lab down ends every dockerd, container and cgroup of the lab', async (t) => {
    const status = JSON.parse(await ok(['lab', 'status', '--json'])) as { hosts: Array<{ name: string; docker: { pid: number; running: boolean; socket: string } | null }> };
    t.ok(status.hosts.every((x) => x.docker?.running), 'lab status shows a running dockerd on every host');
    t.match(status.hosts[0]?.docker?.socket, /^\/proc\/\d+\/root\/run\/docker\.sock$/, 'and its socket, reachable from the root namespace');
    const containerPids = (await dok('h2', ['ps', '-q'])).split('\n').filter(Boolean);
    t.ok(containerPids.length > 0, 'h2 has running containers');
    const pids = await Promise.all(containerPids.map((c) => dok('h2', ['inspect', '-f', '{{.State.Pid}}', c])));
    const down = await vxnet(['lab', 'down', '--name', lab], env, 120_000);
    t.equal(down.code, 0, `lab down: ${down.stderr.trim()}`);
    // exited (a zombie waiting for init counts as exited)
    const alive = (pid: number | string) => {
      try {
        return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.[0] !== 'Z';
      } catch {
        return false;
      }
    };
    t.same(pids.filter(alive), [], 'the containers\' processes are gone');
    t.same(state.hosts.filter((x) => x.docker?.process && alive(x.docker.process.pid)).map((x) => x.name), [], 'every dockerd has exited');
    const cgroups = execFileSync('find', ['/sys/fs/cgroup', '-maxdepth', '2', '-name', `vx-${lab}.*`], { encoding: 'utf8' }).trim();
    t.equal(cgroups, '', 'no cgroup of the lab is left');
    const mounts = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.includes(home));
    t.same(mounts, [], 'nothing is mounted under the lab\'s directory');
  });

  t.test('lab down cleans up after a lab up --docker that was killed while its dockerds started', async (t) => {
    const crash = uniqueLabName('dkc');
    const stateFile = join(home, 'labs', crash, 'lab.json');
    const child = spawn(process.execPath, [VXNET_BIN, 'lab', 'up', '--name', crash, '--hosts', '2', '--docker'], { env: { ...process.env, ...env }, stdio: 'ignore' });
    // kill it as soon as a dockerd is recorded: started, not yet answering
    let recorded: Array<{ pid: number }> = [];
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline && child.exitCode === null && recorded.length === 0) {
      try {
        recorded = (JSON.parse(readFileSync(stateFile, 'utf8')) as LabJson).hosts.flatMap((x) => (x.docker?.process ? [x.docker.process] : []));
      } catch { /* not written yet */ }
      await new Promise((r) => setTimeout(r, 5));
    }
    child.kill('SIGKILL');
    t.ok(recorded.length > 0, `lab up recorded a dockerd (pid ${recorded[0]?.pid}) before it was killed`);
    const down = await vxnet(['lab', 'down', '--name', crash], env, 120_000);
    t.equal(down.code, 0, `lab down: ${down.stderr.trim()}`);
    const running = (pid: number) => {
      try {
        return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.[0] !== 'Z';
      } catch {
        return false;
      }
    };
    t.same(recorded.filter((p) => running(p.pid)), [], 'the dockerds it started have exited');
    const leftover = execFileSync('ps', ['-eo', 'pid=,args='], { encoding: 'utf8' }).split('\n').filter((l) => l.includes(join(home, 'labs', crash)));
    t.same(leftover, [], 'no process of that lab is left (containerd included)');
    t.equal(execFileSync('find', ['/sys/fs/cgroup', '-maxdepth', '2', '-name', `vx-${crash}.*`], { encoding: 'utf8' }).trim(), '', 'no cgroup of it is left');
  });
}
