/**
 * The Docker plugin on the real kernel (root), no dockerd: two simulated hosts on an
 * underlay switch (198.51.100.0/24), an Agent per host in this process (MemoryStore,
 * netlink data plane and DNS acting inside the host's namespace) with its plugin on
 * a unix socket. The test plays dockerd: it POSTs the calls of `docker network
 * create` and `docker run` in dockerd's order, then does what dockerd does after
 * Join (moves the veth end into a sandbox namespace it made, renames it eth0,
 * addresses it, routes by the Join answer) and pings across the VXLAN overlay.
 * Checked: the veth end is left in the host's namespace with the network's MTU, its
 * peer on the bridge; the DNS address 169.254.169.53 answers names of its own
 * network only; an agent restart (a new Agent and plugin over the same state) loses
 * at most one ping and answers Leave/DeleteEndpoint for the old ids; Leave and
 * DeleteEndpoint leave no veth, bridge FDB entry, ARP entry, route or store record.
 * Everything is made under this file's unique prefix and removed at teardown.
 */
import t from 'tap';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { MemoryStore, VXNET_DNS_ADDRESS, keys, silentLogger, type NetworkSpec } from '@vxnet/common';

import { Agent } from '../../src/agent.js';
import { NetlinkDataPlane } from '../../src/dataplane/index.js';
import { handoffName } from '../../src/docker/docker-driver.js';
import { DnsService } from '../../src/dns/dns-service.js';
import { LeaseManager } from '../../src/lease/lease-manager.js';
import { HostRegistration } from '../../src/registration/host-registration.js';
import { ip, ipJson, makeNs, makeSwitch, pings, removeAll, skipReason, testPrefix } from '../dataplane/helpers/sim.js';
import { query } from '../dns/helpers/netns-pair.js';
import { dockerId, post, startPlugin, type RunningPlugin } from '../helpers/docker-plugin.js';

const execFileP = promisify(execFile);
const prefix = testPrefix('dk');
const skip = skipReason();

const net = (c: string, n: number): NetworkSpec => ({
  id: c.repeat(64), name: `dk-${c}`, driver: 'overlay', subnet: `10.${150 + n}.0.0/16`, hostSubnetLength: 24, vni: 5300 + n, mtu: null,
  internal: false, labels: {}, options: {}, createdAt: new Date(0).toISOString(),
});
const A = net('a', 0);
const B = net('b', 1);
const DNET = dockerId('d');

interface Host {
  name: 'h1' | 'h2';
  ns: string;
  underlayIp: string;
  agent: Agent;
  plugin: RunningPlugin;
  stateDir: string;
}

if (skip) {
  t.plan(0, `skip: ${skip}`);
} else {
  const sw = makeSwitch(prefix);
  const store = new MemoryStore();
  const k = keys(`/${prefix}/`);
  for (const n of [A, B]) await store.put(k.network(n.id), JSON.stringify(n));
  const dir = mkdtempSync(join(tmpdir(), 'vxnet-docker-kernel-'));
  const agents = new Set<Agent>();
  t.teardown(async () => {
    for (const a of agents) await a.stop().catch(() => undefined);
    removeAll(prefix);
    rmSync(dir, { recursive: true, force: true });
  });

  const startHost = async (name: 'h1' | 'h2', ns: string, underlayIp: string): Promise<Host> => {
    const log = silentLogger();
    const stateDir = join(dir, name);
    const leases = new LeaseManager({ store, keys: k, host: name, underlayIp, ttlSeconds: 3600, renewMarginSeconds: 600, stateFile: join(stateDir, 'subnets.json'), log });
    const registration = new HostRegistration({ store, keys: k, host: name, underlayIp, underlayInterface: 'eth0', agentVersion: 'test', ttlSeconds: 10, log, readRoutes: async () => [] });
    const agent = new Agent({
      store, keys: k, host: name, underlayIp, underlayDevice: 'eth0', underlayMtu: 1500, netnsPrefix: `${prefix}-${name}n-`,
      endpointsFile: join(stateDir, 'endpoints.json'), namespacesFile: join(stateDir, 'namespaces.json'), uplinksFile: join(stateDir, 'uplinks.json'),
      exposedFile: join(stateDir, 'exposed.json'), reservedFile: join(stateDir, 'reserved.json'),
      dataplane: new NetlinkDataPlane({ agentNetns: ns, log }), leases, registration, log,
      dns: new DnsService({ upstreams: [], log }),
    });
    agents.add(agent);
    await agent.start();
    const plugin = await startPlugin(t, agent, join(stateDir, 'docker.json'), { host: name });
    return { name, ns, underlayIp, agent, plugin, stateDir };
  };
  const stopHost = async (h: Host) => {
    await h.plugin.stop();
    agents.delete(h.agent);
    await h.agent.stop();
  };
  const call = (h: Host, path: string, body?: unknown) => post(h.plugin.socket, path, body);
  const netnsOf = (h: Host, n: NetworkSpec) => `${prefix}-${h.name}n-${n.id.slice(0, 12)}`;

  /** `docker network create -d vxnet --ipam-driver vxnet --subnet A`: the pool id. */
  const dockerNetworkCreate = async (h: Host): Promise<string> => {
    const pool = (await call(h, 'IpamDriver.RequestPool', { AddressSpace: 'vxnet-local', Pool: A.subnet, SubPool: '', Options: {}, V6: false })).body as { PoolID: string; Pool: string; Data: Record<string, string> };
    const created = await call(h, 'NetworkDriver.CreateNetwork', {
      NetworkID: DNET, Options: { 'com.docker.network.generic': {} },
      IPv4Data: [{ AddressSpace: 'vxnet-local', Pool: pool.Pool, Gateway: pool.Data['com.docker.network.gateway'], AuxAddresses: {} }], IPv6Data: [],
    });
    if (created.text !== '{}') throw new Error(`CreateNetwork: ${created.text}`);
    return pool.PoolID;
  };

  /**
   * `docker run`: RequestAddress, CreateEndpoint, Join, then what dockerd does with
   * the answer: the sandbox namespace, the veth end moved in as eth0, addressed, routed.
   */
  const dockerRun = async (h: Host, poolId: string, ep: string, sandboxName: string) => {
    const address = ((await call(h, 'IpamDriver.RequestAddress', { PoolID: poolId, Address: '', Options: {} })).body as { Address: string }).Address;
    const created = (await call(h, 'NetworkDriver.CreateEndpoint', { NetworkID: DNET, EndpointID: ep, Interface: { Address: address, AddressIPv6: '', MacAddress: '' }, Options: {} })).body as { Interface: { MacAddress: string } };
    const join = (await call(h, 'NetworkDriver.Join', { NetworkID: DNET, EndpointID: ep, SandboxKey: `/var/run/docker/netns/${sandboxName}`, Options: {} })).body as {
      InterfaceName: { SrcName: string; DstPrefix: string }; Gateway: string; StaticRoutes: Array<{ Destination: string; NextHop: string }>;
    };
    const src = join.InterfaceName.SrcName;
    const left = ipJson<Array<{ ifname: string; mtu: number; address: string; operstate: string }>>('-n', h.ns, 'link', 'show', src)[0];
    // as dockerd (libnetwork osl): the sandbox exists only now
    const sandbox = makeNs(`${prefix}-${sandboxName}`);
    ip('-n', h.ns, 'link', 'set', src, 'netns', sandbox);
    ip('-n', sandbox, 'link', 'set', src, 'name', `${join.InterfaceName.DstPrefix}0`);
    ip('-n', sandbox, 'link', 'set', 'eth0', 'address', created.Interface.MacAddress);
    ip('-n', sandbox, 'addr', 'add', address, 'dev', 'eth0');
    ip('-n', sandbox, 'link', 'set', 'eth0', 'up');
    ip('-n', sandbox, 'route', 'add', 'default', 'via', join.Gateway);
    for (const r of join.StaticRoutes) ip('-n', sandbox, 'route', 'add', r.Destination, 'via', r.NextHop);
    return { ip: address.split('/')[0]!, address, mac: created.Interface.MacAddress, join, left, sandbox };
  };

  const EP1 = dockerId('1');
  const EP2 = dockerId('2');
  const h1 = await startHost('h1', sw.attach('h1', '198.51.100.1'), '198.51.100.1');
  const h2 = await startHost('h2', sw.attach('h2', '198.51.100.2'), '198.51.100.2');
  let hosts = { h1, h2 };
  let c1: Awaited<ReturnType<typeof dockerRun>>;
  let c2: Awaited<ReturnType<typeof dockerRun>>;
  let pool1 = '';

  await t.test('network create + run on two hosts: the veth left in the host namespace, then ping across VXLAN', async (t) => {
    pool1 = await dockerNetworkCreate(h1);
    const pool2 = await dockerNetworkCreate(h2);
    c1 = await dockerRun(h1, pool1, EP1, 's1');
    t.same(c1.left && { ifname: c1.left.ifname, mtu: c1.left.mtu, address: c1.left.address }, { ifname: handoffName(EP1), mtu: 1450, address: c1.mac }, 'Join left vxd… in the host namespace, with the network MTU and the MAC');
    const hostEnd = ipJson<Array<{ ifname: string; master?: string; mtu: number; operstate: string }>>('-n', netnsOf(h1, A), 'link', 'show', 'master', 'br0', 'type', 'veth');
    t.match(hostEnd, [{ ifname: `ve-${EP1.slice(0, 11)}`, master: 'br0', mtu: 1450 }], 'its peer is on the bridge of the network namespace');
    c2 = await dockerRun(h2, pool2, EP2, 's2');
    t.not(c1.ip.split('.')[2], c2.ip.split('.')[2], 'each host gives addresses from its own subnet');
    t.ok(await pings(c2.sandbox, c1.ip), `c2@h2 pings c1@h1 (${c1.ip}) across VXLAN`);
    t.ok(await pings(c1.sandbox, c2.ip), 'and back');
    t.ok(await pings(c2.sandbox, VXNET_DNS_ADDRESS), 'the DNS address answers ping from the sandbox (its own host\'s namespace)');
  });

  await t.test('the DNS address answers names of its own network only', async (t) => {
    await h1.plugin.driver.nameEndpoint(EP1, { name: 'c1', aliases: ['web'], container: 'c'.repeat(64) });
    await h2.plugin.driver.nameEndpoint(EP2, { name: 'c2', aliases: [], container: 'e'.repeat(64) });
    // a container of network B on h2 (the engine's way): it must not see network A's names
    const s3 = makeNs(`${prefix}-s3`);
    const other = await h2.agent.createEndpoint({ network: B.name, sandbox: `/run/netns/${s3}`, name: 'b1', container: 'f'.repeat(64), owner: 'engine' });
    const deadline = Date.now() + 5000;
    let res = await query(c2.sandbox, VXNET_DNS_ADDRESS, [{ name: 'c1' }, { name: 'web' }, { name: 'c2' }, { name: 'b1' }]);
    while (res[0]?.answers[0] !== c1.ip && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
      res = await query(c2.sandbox, VXNET_DNS_ADDRESS, [{ name: 'c1' }, { name: 'web' }, { name: 'c2' }, { name: 'b1' }]);
    }
    t.same(res.map((r) => [r.name, r.rcode, r.answers]), [['c1', 'NOERROR', [c1.ip]], ['web', 'NOERROR', [c1.ip]], ['c2', 'NOERROR', [c2.ip]], ['b1', 'NXDOMAIN', []]],
      'c2@h2 resolves c1@h1 and its alias through 169.254.169.53, not network B\'s b1');
    const fromB = await query(s3, VXNET_DNS_ADDRESS, [{ name: 'c1' }, { name: 'b1' }]);
    t.same(fromB.map((r) => [r.name, r.rcode, r.answers]), [['c1', 'NXDOMAIN', []], ['b1', 'NOERROR', [other.ip]]], 'from network B: its own names, not network A\'s');
    const gw = await query(c2.sandbox, c2.join.Gateway, [{ name: 'c1' }]);
    t.same(gw[0]?.answers, [c1.ip], 'the gateway answers as before');
    await h2.agent.deleteEndpoint(other.id);
  });

  await t.test('an agent restart loses at most one ping and answers later calls for the old ids; Leave/DeleteEndpoint leave nothing', async (t) => {
    const pinger = execFileP('ip', ['netns', 'exec', c2.sandbox, 'ping', '-i', '0.05', '-c', '60', '-W', '1', c1.ip]).then((r) => r.stdout, (e: { stdout?: string }) => e.stdout ?? '');
    await new Promise((r) => setTimeout(r, 500));
    await stopHost(h1);
    const again = await startHost('h1', h1.ns, h1.underlayIp);
    hosts = { ...hosts, h1: again };
    const out = await pinger;
    const m = /(\d+) packets transmitted, (\d+) received/.exec(out);
    t.ok(m, out);
    const lost = Number(m?.[1]) - Number(m?.[2]);
    t.comment(`ping every 50 ms across the restart: ${m?.[2]}/${m?.[1]} answered`);
    t.ok(lost <= 1, `at most one ping lost (lost ${lost})`);
    t.ok(await pings(c2.sandbox, c1.ip), 'traffic flows after the restart');
    t.same((await call(again, 'NetworkDriver.EndpointOperInfo', { NetworkID: DNET, EndpointID: EP1 })).body, { Value: { 'vxnet.network': A.name, 'vxnet.ip': c1.ip, 'vxnet.host': 'h1' } }, 'the restarted plugin knows the old endpoint');

    t.ok(ipJson<Array<{ dst: string }>>('-n', netnsOf(again, A), 'neigh', 'show', 'dev', 'br0').some((n) => n.dst === c1.ip), 'before the rm, the bridge has an ARP entry of c1 (the check below means something)');
    // docker rm -f c1 on h1, in dockerd's order
    const netns = netnsOf(again, A);
    t.same((await call(again, 'NetworkDriver.RevokeExternalConnectivity', { NetworkID: DNET, EndpointID: EP1 })).body, {});
    t.same((await call(again, 'NetworkDriver.Leave', { NetworkID: DNET, EndpointID: EP1 })).body, {});
    t.same((await call(again, 'NetworkDriver.DeleteEndpoint', { NetworkID: DNET, EndpointID: EP1 })).body, {});
    t.same((await call(again, 'IpamDriver.ReleaseAddress', { PoolID: pool1, Address: c1.ip })).body, {});
    t.same(ipJson('-n', netns, 'link', 'show', 'master', 'br0', 'type', 'veth'), [], 'no veth on the bridge');
    t.notOk(ipJson<Array<{ ifname: string }>>('-n', again.ns, 'link', 'show').some((l) => l.ifname.startsWith('vxd')), 'no vxd… in the host namespace');
    t.same(ipJson<Array<{ ifname: string }>>('-n', c1.sandbox, 'link', 'show').map((l) => l.ifname), ['lo'], 'the sandbox lost its eth0 with the pair');
    const bridgeFdb = (await execFileP('bridge', ['-n', netns, 'fdb', 'show', 'br', 'br0'])).stdout;
    t.notMatch(bridgeFdb, c1.mac, 'no bridge FDB entry of its MAC');
    const neigh = ipJson<Array<{ dst: string }>>('-n', netns, 'neigh', 'show', 'dev', 'br0');
    t.notOk(neigh.some((n) => n.dst === c1.ip), `no ARP entry of its address (${JSON.stringify(neigh)})`);
    const routes = ipJson<Array<{ dst: string }>>('-n', netns, 'route', 'show');
    t.notOk(routes.some((r) => r.dst === c1.ip || r.dst === `${c1.ip}/32`), 'no route of its address');
    t.notOk(await store.get(k.endpoint(A.id, EP1)), 'no store record');
    t.notOk(again.agent.endpoints().some((e) => e.id === EP1), 'no local endpoint');
    t.same((await call(again, 'NetworkDriver.Leave', { NetworkID: DNET, EndpointID: EP1 })).body, {}, 'Leave again: success');
    t.same((await call(again, 'NetworkDriver.DeleteEndpoint', { NetworkID: DNET, EndpointID: EP1 })).body, {}, 'DeleteEndpoint again: success');
  });

  await t.test('docker network rm on both hosts', async (t) => {
    for (const h of [hosts.h1, hosts.h2]) {
      if (h === hosts.h2) {
        t.same((await call(h, 'NetworkDriver.Leave', { NetworkID: DNET, EndpointID: EP2 })).body, {});
        t.same((await call(h, 'NetworkDriver.DeleteEndpoint', { NetworkID: DNET, EndpointID: EP2 })).body, {});
      }
      t.same((await call(h, 'IpamDriver.ReleasePool', { PoolID: `vxnet/${A.id}/${A.subnet}` })).body, {});
      t.same((await call(h, 'NetworkDriver.DeleteNetwork', { NetworkID: DNET })).body, {});
    }
    t.same((await store.list(k.endpoints)).items.map((kv) => kv.key), [], 'no endpoint record left in the store');
  });
}
