/**
 * Agents in a 3-host lab, on the real kernel and a real etcd: subnet leases, the VXLAN
 * data plane, isolation, peer liveness, restarts without packet loss, store outages,
 * exhaustion and network removal. Sandboxes are plain namespaces with endpoints from
 * the agents' local API (the engine comes later).
 */
import t from 'tap';
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isAlive, type ProcessRecord } from '@vxnet/common';
import { isRoot, setupFailure, tempHome, uniqueLabName, vxnet } from './helpers/cli.js';
import { enterArgs, hostNetns, onHost, tryOnHost, type HostJson } from './helpers/lab.js';
import { unixJson } from '@vxnet/common/testing';
import { until } from './helpers/wait.js';

if (!isRoot) {
  t.plan(0, 'skip: agent tests need root (network namespaces)');
} else {
  const { home, cleanup } = tempHome('agent');
  const env = { VXNET_HOME: home };
  const lab = uniqueLabName('ag');
  const prefix = `vx-${lab}.`;
  t.teardown(async () => {
    await vxnet(['lab', 'down', '--name', lab], env);
    cleanup();
  });

  const setupFailed = setupFailure(lab, env, cleanup);
  const up = await vxnet(['lab', 'up', '--name', lab, '--hosts', '3', '--underlay', '198.51.100.0/24'], env);
  if (up.code !== 0) await setupFailed(new Error(`lab up failed: ${up.stderr}`));
  const labState = () => JSON.parse(readFileSync(join(home, 'labs', lab, 'lab.json'), 'utf8'));
  const ctlSock: string = labState().controller.url.slice('unix://'.length);
  const host = (name: string): HostJson => labState().hosts.find((h: { name: string }) => h.name === name);
  /** etcdctl's flags for the lab's etcd: TLS with the lab's admin client certificate (pki.ts). */
  const labEtcdctlTls = (): string[] => {
    const pki = labState().pki as { ca: string; clients: Record<string, { cert: string; key: string }> } | undefined;
    return pki ? ['--cacert', pki.ca, '--cert', pki.clients.admin?.cert ?? '', '--key', pki.clients.admin?.key ?? ''] : [];
  };
  const agentSock = (h: string): string => host(h).agent.socket;

  const createNet = async (body: object) => {
    const r = await unixJson(ctlSock, 'POST', '/v1/networks', body);
    if (r.status !== 201) throw new Error(`net create: ${JSON.stringify(r.body)}`);
    return r.body as { id: string; name: string; subnet: string; vni: number };
  };
  const net1 = await createNet({ name: 'net1' }).catch(setupFailed);
  const net2 = await createNet({ name: 'net2' }).catch(setupFailed);

  /** `ip ARGS` / `bridge ARGS` on lab host h (in its machine, where the agent's namespaces are). */
  const ip = (h: string, args: string[]) => onHost(host(h), ['ip', ...args]);
  const bridge = (h: string, args: string[]) => onHost(host(h), ['bridge', ...args]);
  /** A sandbox: a plain namespace on host h (its machine goes with lab down). */
  interface Sandbox { h: string; ns: string }
  const sandbox = (h: string, name: string): Sandbox => {
    const ns = `sb-${name}`;
    ip(h, ['netns', 'add', ns]);
    ip(h, ['-n', ns, 'link', 'set', 'lo', 'up']);
    return { h, ns };
  };
  const attach = async (h: string, network: string, sb: Sandbox, name: string, addr?: string) =>
    unixJson(agentSock(h), 'POST', '/v1/endpoints', { network, sandbox: `/run/netns/${sb.ns}`, name, ...(addr ? { ip: addr } : {}) });
  const ping = (sb: Sandbox, addr: string) => tryOnHost(host(sb.h), ['ip', 'netns', 'exec', sb.ns, 'ping', '-c1', '-W1', addr]).status === 0;
  /** The agent names a network's namespace as on any host: vxnet-<network id prefix>. */
  const netnsOf = (_h: string, netId: string) => `vxnet-${netId.slice(0, 12)}`;
  const leasesOf = async (network: string) => (await unixJson(ctlSock, 'GET', `/v1/leases?network=${network}`)).body.leases as Array<{ host: string; subnet: string; vtepMac: string; underlayIp: string }>;
  /** Peer routes: onlink via the VXLAN device (the uplink's default route is onlink too, but not a peer). */
  const routesVia = (h: string, netns: string): string[] =>
    (JSON.parse(ip(h, ['-j', '-n', netns, 'route', 'show', 'dev', 'vxlan0'])) as Array<{ dst: string; gateway?: string; flags?: string[] }>)
      .filter((r) => r.gateway && r.flags?.includes('onlink')).map((r) => r.dst).sort();
  /** The lab's own failure drills: `vxnet lab kill HOST agent`, `vxnet lab restart HOST agent` (waits until it answers). */
  const killAgent = async (h: string, signal = 'KILL') => {
    const r = await vxnet(['lab', 'kill', h, 'agent', '--signal', signal], env);
    if (r.code !== 0) throw new Error(`lab kill ${h} agent: ${r.stderr}`);
  };
  const restartAgent = async (h: string) => (await vxnet(['lab', 'restart', h, 'agent'], env)).code === 0;
  const agentProcess = (h: string): ProcessRecord => host(h).agent.process as ProcessRecord;

  const sa = sandbox('h1', 'a');
  const sb = sandbox('h3', 'b');
  const sc = sandbox('h2', 'c');
  let ipB = '';

  t.test('sandboxes on different hosts reach each other on one network, never across networks', async (t) => {
    const a = await attach('h1', 'net1', sa, 'a');
    const b = await attach('h3', 'net1', sb, 'b');
    const c = await attach('h2', 'net2', sc, 'c');
    for (const [n, r] of [['a', a], ['b', b], ['c', c]] as const) t.equal(r.status, 201, `attach ${n}${r.status === 201 ? '' : `: ${JSON.stringify(r.body)}`}`);
    ipB = b.body.ip;
    t.match(a.body, { ifname: 'eth0', mtu: 1450, mac: /^02:42:/, gateway: /\.1$/ });
    // the first packet may wait for the peer to be programmed: allow up to 2 s
    t.ok((await until(() => ping(sa, b.body.ip), 2000)).value, 'a (h1) pings b (h3) on net1');
    t.ok(ping(sb, a.body.ip), 'b pings a back');
    t.notOk(ping(sa, c.body.ip), 'a cannot reach c (net2)');
    t.notOk(ping(sc, a.body.ip), 'c cannot reach a (net1)');
    t.notOk(ping(sa, c.body.gateway), "a cannot reach net2's gateway on h2");
    const leases = await leasesOf('net1');
    t.same(leases.map((l) => l.host).sort(), ['h1', 'h3'], 'h1 and h3 hold leases on net1');
    t.equal(new Set(leases.map((l) => l.subnet)).size, 2, 'distinct subnets');
    t.ok(leases.every((l) => /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/.test(l.vtepMac)), 'leases carry the VTEP MAC');
  });

  t.test('kernel state on h1 matches the store: route, neighbour, FDB per alive peer', async (t) => {
    const leases = await leasesOf('net1');
    const peer = leases.find((l) => l.host === 'h3')!;
    const ns = netnsOf('h1', net1.id);
    t.same(routesVia('h1', ns), [peer.subnet], 'one onlink route, to h3');
    const vtepIp = peer.subnet.replace(/\.0\/\d+$/, '.0');
    const neigh = JSON.parse(ip('h1', ['-j', '-n', ns, 'neigh', 'show', 'nud', 'permanent'])) as Array<{ dst: string; lladdr: string }>;
    t.ok(neigh.some((n) => n.dst === vtepIp && n.lladdr === peer.vtepMac), `permanent neighbour ${vtepIp} -> ${peer.vtepMac}`);
    const fdb = JSON.parse(bridge('h1', ['-j', '-n', ns, 'fdb', 'show'])) as Array<{ mac: string; dst?: string; state?: string }>;
    t.ok(fdb.some((f) => f.mac === peer.vtepMac && f.dst === '198.51.100.3'), `FDB ${peer.vtepMac} -> 198.51.100.3`);
    const links = ip('h1', ['link']);
    t.notMatch(links, /vxlan|br0/, 'no VXLAN or bridge left in the host namespace (moved into the network namespace)');
  });

  t.test("a peer's routes go within 1 s of its agent stopping; it returns to the same subnet", async (t) => {
    const before = (await leasesOf('net1')).find((l) => l.host === 'h3')!;
    const ns = netnsOf('h1', net1.id);
    const t0 = Date.now();
    await killAgent('h3', 'TERM'); // clean stop revokes the liveness lease
    const gone = await until(() => routesVia('h1', ns).length === 0, 3000, 10);
    t.ok(gone.value, 'route to h3 removed');
    t.ok(Date.now() - t0 < 1500, `removed ${Date.now() - t0} ms after the stop began (goal: within 1 s of the lease ending)`);
    t.notOk(ping(sa, ipB), 'b unreachable while h3 is gone');

    t.ok(await restartAgent('h3'), 'h3 agent back');
    const back = await until(() => routesVia('h1', ns).length === 1, 3000, 10);
    t.ok(back.value, `route to h3 back ${back.ms} ms after its agent answered`);
    const after = (await leasesOf('net1')).find((l) => l.host === 'h3')!;
    t.equal(after.subnet, before.subnet, 'h3 got its subnet back');
    t.ok((await until(() => ping(sa, ipB), 2000)).value, 'b reachable again');
  });

  t.test('an agent restarted with SIGKILL loses no packet', async (t) => {
    const pinger = spawn('nsenter', [...enterArgs(host('h1')), 'ip', 'netns', 'exec', sa.ns, 'ping', '-i', '0.01', '-c', '400', '-W', '1', ipB], { stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    pinger.stdout.on('data', (d: Buffer) => (out += d.toString()));
    // listened for now: on a loaded machine the 4 s of pings can end before the restart does
    const exited = new Promise((resolve) => pinger.on('close', resolve));
    await until(() => out.includes('icmp_seq=20'), 3000);
    await killAgent('h1');
    t.ok(await restartAgent('h1'), 'h1 agent back');
    await exited;
    const m = /(\d+) packets transmitted, (\d+) received/.exec(out);
    t.ok(m, 'ping summary');
    t.equal(m?.[2], m?.[1], `received all ${m?.[1]} packets across the agent restart`);
  });

  t.test("a VTEP recreated with a new MAC: the other hosts follow within 1 s", async (t) => {
    const h3ns = netnsOf('h3', net1.id);
    const h1ns = netnsOf('h1', net1.id);
    const old = (await leasesOf('net1')).find((l) => l.host === 'h3')!.vtepMac;
    await killAgent('h3'); // no revoke: h3 stays alive for its peers
    ip('h3', ['-n', h3ns, 'link', 'del', 'vxlan0']);
    const restarting = restartAgent('h3');
    let leaseAt = 0;
    let kernelAt = 0;
    let fresh = '';
    await until(async () => {
      if (!leaseAt) {
        const l = (await leasesOf('net1')).find((x) => x.host === 'h3');
        if (l && l.vtepMac !== old) {
          leaseAt = Date.now();
          fresh = l.vtepMac;
        }
      }
      if (leaseAt && !kernelAt) {
        const neigh = ip('h1', ['-n', h1ns, 'neigh', 'show', 'nud', 'permanent']);
        const fdb = bridge('h1', ['-n', h1ns, 'fdb', 'show']);
        if (neigh.includes(fresh) && fdb.includes(fresh) && !neigh.includes(old) && !fdb.includes(old)) kernelAt = Date.now();
      }
      return kernelAt;
    }, 15_000, 10);
    t.ok(await restarting, 'h3 agent back');
    t.ok(fresh && fresh !== old, `h3's lease carries a new VTEP MAC (${old} -> ${fresh})`);
    t.ok(kernelAt > 0, 'h1 replaced neighbour and FDB entries');
    t.ok(kernelAt - leaseAt <= 1000, `h1 followed ${kernelAt - leaseAt} ms after the lease changed (goal: within 1 s)`);
    t.ok((await until(() => ping(sa, ipB), 2000)).value, 'a reaches b through the new VTEP');
  });

  t.test('restart reconciles: what the agent made but no longer wants goes, nothing else is touched', async (t) => {
    const ns = netnsOf('h1', net1.id);
    // stale peer triple and a veth on the bridge without an endpoint, in the agent's own namespace
    ip('h1', ['-n', ns, 'route', 'add', '10.128.251.0/24', 'via', '10.128.251.0', 'dev', 'vxlan0', 'onlink']);
    ip('h1', ['-n', ns, 'neigh', 'replace', '10.128.251.0', 'lladdr', '02:de:ad:00:00:01', 'dev', 'vxlan0', 'nud', 'permanent']);
    bridge('h1', ['-n', ns, 'fdb', 'replace', '02:de:ad:00:00:01', 'dev', 'vxlan0', 'dst', '198.51.100.77', 'self', 'permanent']);
    const scratch = sandbox('h1', 'scratch');
    ip('h1', ['-n', ns, 'link', 'add', 've-stale00000', 'type', 'veth', 'peer', 'name', 'x0', 'netns', scratch.ns]);
    ip('h1', ['-n', ns, 'link', 'set', 've-stale00000', 'master', 'br0', 'up']);
    // a network removed while the agent is down: the namespace it made for it must go
    const net4 = await createNet({ name: 'net4' });
    t.equal((await attach('h1', 'net4', sandbox('h1', 'n4'), 'n4')).status, 201);
    const ns4 = netnsOf('h1', net4.id);
    t.ok(hostNetns(host('h1')).includes(ns4), 'h1 joined net4');
    // things that are not the agent's: a link in the host namespace, a namespace named like its own, a sandbox
    ip('h1', ['link', 'add', 'keepme0', 'type', 'veth', 'peer', 'name', 'keepme1']);
    ip('h1', ['netns', 'add', 'vxnet-deadbeef0000']);
    const keepNs = sandbox('h1', 'keep');

    await killAgent('h1');
    t.equal((await unixJson(ctlSock, 'DELETE', '/v1/networks/net4?force=true')).status, 200, 'net4 removed while h1\'s agent is down');
    t.ok(await restartAgent('h1'), 'h1 agent back');
    const list = () => hostNetns(host('h1'));
    t.ok((await until(() => !list().includes(ns4), 3000)).value, 'the namespace of a network that is gone is removed');
    t.notMatch(ip('h1', ['-n', ns, 'route']), /10\.128\.251\.0/, 'stale route removed');
    t.notMatch(ip('h1', ['-n', ns, 'neigh']), /02:de:ad:00:00:01/, 'stale neighbour removed');
    t.notMatch(bridge('h1', ['-n', ns, 'fdb']), /02:de:ad:00:00:01/, 'stale FDB entry removed');
    t.notMatch(ip('h1', ['-n', ns, 'link']), /ve-stale00000/, 'veth without an endpoint removed');
    t.match(ip('h1', ['link']), /keepme0/, 'a link the agent does not own is untouched');
    t.ok(list().includes('vxnet-deadbeef0000'), 'a namespace named like the agent\'s, but not made by it, is untouched');
    t.ok(list().includes(keepNs.ns), 'a sandbox is untouched');
    t.ok(ping(sa, ipB), 'traffic still flows');
  });

  t.test('static IPs: honoured when free and in the host subnet, refused clearly otherwise', async (t) => {
    const lease = (await leasesOf('net1')).find((l) => l.host === 'h1')!;
    const base = lease.subnet.replace(/\.0\/24$/, '');
    const s1 = sandbox('h1', 'st1');
    const ok = await attach('h1', 'net1', s1, 'st1', `${base}.77`);
    t.equal(ok.status, 201);
    t.equal(ok.body.ip, `${base}.77`, 'requested address given');
    const cases: Array<[string, RegExp]> = [
      [`${base}.77`, /could not use address .* on network "net1": it is in use/],
      [`${base}.1`, /it is the gateway of/],
      ['10.250.0.9', /it is outside this host's subnet/],
      [`${base}.255`, /it is the broadcast address/],
    ];
    for (const [addr, re] of cases) {
      const s = sandbox('h1', `st${addr.split('.').pop()}x`);
      const r = await attach('h1', 'net1', s, `st-${addr.replace(/\./g, '-')}`, addr);
      t.equal(r.status, 409, addr);
      t.match(r.body.message, re);
      t.equal(ip(s.h, ['-n', s.ns, 'link']).includes('eth0'), false, 'no eth0 left in the sandbox');
    }
    const taken = await attach('h3', 'net1', sandbox('h3', 'dupe'), 'a');
    t.equal(taken.status, 409, 'the name "a" is taken on net1 by a container on h1');
    t.match(taken.body.message, /could not attach "a" to network "net1": the name is taken/);
  });

  t.test('vxnet host ls and lease ls show live hosts and real leases', async (t) => {
    const hosts = JSON.parse((await vxnet(['host', 'ls', '--json'], env)).stdout) as Array<{ name: string; state: string; networks: string[] }>;
    t.same(hosts.map((h) => [h.name, h.state]), [['h1', 'alive'], ['h2', 'alive'], ['h3', 'alive']]);
    t.ok(hosts.find((h) => h.name === 'h1')!.networks.includes('net1'));
    const leases = JSON.parse((await vxnet(['lease', 'ls', '--net', 'net1', '--json'], env)).stdout) as Array<{ host: string; remainingSeconds: number }>;
    t.same(leases.map((l) => l.host).sort(), ['h1', 'h3'], 'h1 and h3 have endpoints on net1 so far');
    t.ok(leases.every((l) => l.remainingSeconds > 86_000), 'leases run for about 24 h');
    const human = (await vxnet(['lease', 'ls'], env)).stdout;
    t.match(human, /NETWORK\s+SUBNET\s+HOST/);
  });

  t.test('store outage: traffic flows, agents resume and program new peers', async (t) => {
    const etcd: ProcessRecord = labState().store.process;
    process.kill(etcd.pid, 'SIGSTOP');
    try {
      const t0 = Date.now();
      let ok = 0;
      while (Date.now() - t0 < 3000) ok += ping(sa, ipB) ? 1 : 0;
      t.ok(ok > 5, `${ok} pings answered while etcd was stopped`);
    } finally {
      process.kill(etcd.pid, 'SIGCONT');
    }
    const sd = sandbox('h2', 'd');
    const d = await until(async () => {
      const r = await attach('h2', 'net1', sd, 'd');
      return r.status === 201 ? r.body : undefined;
    }, 10_000, 200);
    t.ok(d.value, 'a new endpoint on h2 after the outage');
    t.ok((await until(() => ping(sa, d.value.ip), 3000)).value, 'a (h1) reaches the new endpoint on h2');
    const logs = readFileSync(host('h1').agent.logFile, 'utf8');
    t.ok(logs.length > 0, 'agent logs exist');
  });

  t.test('exhaustion: a clear error and nothing half-made on the host', async (t) => {
    // 4 subnets; two taken by hosts that are not in the lab (records put with etcdctl)
    const net3 = await createNet({ name: 'net3', subnet: '10.99.0.0/22' });
    for (const [i, fake] of ['x1', 'x2'].entries()) {
      const subnet = `10.99.${i}.0/24`;
      const now = new Date().toISOString();
      const rec = { networkId: net3.id, subnet, host: fake, underlayIp: '198.51.100.200', vtepMac: '02:00:00:00:00:0' + i, acquiredAt: now, renewedAt: now, expiresAt: new Date(Date.now() + 3600_000).toISOString() };
      onHost(host('h1'), ['etcdctl', '--endpoints', labState().store.endpoints[0], ...labEtcdctlTls(), 'put', `/vxnet/leases/${net3.id}/10.99.${i}.0_24`, JSON.stringify(rec)]);
    }
    t.equal((await attach('h1', 'net3', sandbox('h1', 'e1'), 'e1')).status, 201);
    t.equal((await attach('h2', 'net3', sandbox('h2', 'e2'), 'e2')).status, 201);
    const r = await attach('h3', 'net3', sandbox('h3', 'e3'), 'e3');
    t.equal(r.status, 409);
    t.match(r.body, { code: 'VXNET_SUBNET_EXHAUSTED', message: /subnet exhausted \(all 4 \/24 subnets of 10\.99\.0\.0\/22 are leased\)/ });
    t.notOk(hostNetns(host('h3')).includes(netnsOf('h3', net3.id)), 'no namespace for net3 on h3');
    t.same((await leasesOf('net3')).filter((l) => l.host === 'h3'), [], 'no lease for h3');
  });

  t.test('removing a network tears down its namespaces on every host', async (t) => {
    const r = await unixJson(ctlSock, 'DELETE', `/v1/networks/net2?force=true`);
    t.equal(r.status, 200);
    const gone = await until(() => !hostNetns(host('h2')).includes(netnsOf('h2', net2.id)), 3000);
    t.ok(gone.value, `net2's namespace on h2 removed after ${gone.ms} ms`);
    const eps = (await unixJson(agentSock('h2'), 'GET', '/v1/endpoints')).body.endpoints as Array<{ networkName: string }>;
    t.notOk(eps.some((e) => e.networkName === 'net2'), 'its endpoints are gone from the agent');
  });

  t.test('lab status shows every agent; lab down leaves nothing', async (t) => {
    const st = JSON.parse((await vxnet(['lab', 'status', '--name', lab, '--json'], env)).stdout);
    t.equal(st.hosts.length, 3);
    for (const h of st.hosts) t.type(h.pids.agent, 'number');
    const agents = ['h1', 'h2', 'h3'].map(agentProcess);
    const down = await vxnet(['lab', 'down', '--name', lab], env);
    t.equal(down.code, 0);
    t.same(execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' }).split('\n').filter((l) => l.startsWith(prefix)), []);
    for (const rec of agents) t.notOk(isAlive(rec), `agent ${rec.pid} stopped`);
  });
}
