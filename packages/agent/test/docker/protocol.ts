/**
 * The Docker plugin protocol, no dockerd: every method POSTed over the unix socket
 * exactly as dockerd 20.10 does (no Content-Type, its Accept header), answered by the
 * real driver over the real Agent on fakes (fake data plane, MemoryStore). Checked:
 * status, body, and the `Err` (Plugin, NetworkDriver) vs `Error` (IpamDriver) keys;
 * the full call order of `docker network create` / `run` / `rm` / `network rm`;
 * refusals (a pool that is no vxnet network, default-IPAM data, --ip outside the lease,
 * unknown network and endpoint ids, bad bodies, unknown methods); idempotent deletes;
 * a restarted agent answering later calls for ids it remembers; bounded answers with
 * the store down; the sweep of endpoints a Leave could not finish.
 */
import t, { type Test } from 'tap';
import http from 'node:http';
import { readFileSync, rmSync } from 'node:fs';
import { addressAt, parseCidr, type EndpointRecord } from '@vxnet/common';

import { handoffName } from '../../src/docker/docker-driver.js';
import { dockerId, post, startPlugin } from '../helpers/docker-plugin.js';
import { HOST, NET, fixture, k, network, nsOf, readJson, storeKeys, type Fixture } from '../helpers/agent-fixture.js';

const OTHER = network('b', { name: 'net-b', subnet: '10.129.0.0/16', vni: 4097 });
const DNET = dockerId('d'); // Docker's NetworkID
const EP1 = dockerId('1');
const EP2 = dockerId('2');

/** The plugin over a started agent; the agent's lease of NET after `RequestPool`. */
async function setup(t: Test, opts: { timeoutMs?: number; removeWaitMs?: number } = {}) {
  const f = await fixture(t, [NET, OTHER]);
  await f.agent.start();
  const plugin = await startPlugin(t, f.agent, f.files.docker, opts);
  const call = (path: string, body?: unknown) => post(plugin.socket, path, body);
  return { f, plugin, call };
}

/** `docker network create -d vxnet --ipam-driver vxnet --subnet NET.subnet`: RequestPool then CreateNetwork. */
async function createNetwork(t: Test, call: (p: string, b?: unknown) => Promise<{ status: number; body: Record<string, unknown> | undefined }>) {
  const pool = await call('IpamDriver.RequestPool', { AddressSpace: 'vxnet-local', Pool: NET.subnet, SubPool: '', Options: {}, V6: false });
  t.equal(pool.status, 200);
  const b = pool.body as { PoolID: string; Pool: string; Data: Record<string, string> };
  const created = await call('NetworkDriver.CreateNetwork', {
    NetworkID: DNET, Options: { 'com.docker.network.generic': {}, 'com.docker.network.enable_ipv6': false },
    IPv4Data: [{ AddressSpace: 'vxnet-local', Pool: b.Pool, Gateway: b.Data['com.docker.network.gateway'], AuxAddresses: {} }], IPv6Data: [],
  });
  t.match(created, { status: 200, text: '{}' }, 'CreateNetwork answers {}');
  return b;
}

/** A container: RequestAddress, CreateEndpoint (no MAC given), Join. */
async function runContainer(call: (p: string, b?: unknown) => Promise<{ status: number; body: Record<string, unknown> | undefined }>, poolId: string, ep: string, ip = '') {
  const addr = await call('IpamDriver.RequestAddress', { PoolID: poolId, Address: ip, Options: {} });
  const address = (addr.body as { Address: string }).Address;
  const created = await call('NetworkDriver.CreateEndpoint', { NetworkID: DNET, EndpointID: ep, Interface: { Address: address, AddressIPv6: '', MacAddress: '' }, Options: {} });
  const joined = await call('NetworkDriver.Join', { NetworkID: DNET, EndpointID: ep, SandboxKey: `/var/run/docker/netns/${ep.slice(0, 12)}`, Options: {} });
  return { address, created, joined };
}

t.test('handshake: Activate and capabilities, no Content-Type, empty bodies', async (t) => {
  const { plugin, call } = await setup(t);
  const act = await call('Plugin.Activate');
  t.equal(act.status, 200);
  t.same(act.body, { Implements: ['NetworkDriver', 'IpamDriver'] });
  t.match(act.headers['content-type'], /^application\/vnd\.docker\.plugins\.v1\.2\+json/);
  t.same((await call('NetworkDriver.GetCapabilities')).body, { Scope: 'local', ConnectivityScope: 'global' });
  t.same((await call('IpamDriver.GetCapabilities')).body, { RequiresMACAddress: false, RequiresRequestReplay: false });
  t.same((await call('IpamDriver.GetDefaultAddressSpaces')).body, { LocalDefaultAddressSpace: 'vxnet-local', GlobalDefaultAddressSpace: 'vxnet-global' });
  t.same((await call('NetworkDriver.DiscoverNew', { DiscoveryType: 1, DiscoveryData: {} })).body, {});
  t.same((await call('NetworkDriver.DiscoverDelete', { DiscoveryType: 1, DiscoveryData: {} })).body, {});
  t.same((await call('NetworkDriver.FreeNetwork', { NetworkID: DNET })).body, {});
  const alloc = await call('NetworkDriver.AllocateNetwork', { NetworkID: DNET, Options: {}, IPv4Data: [] });
  t.equal(alloc.status, 200);
  t.match(alloc.body, { Err: /need no swarm/ }, 'swarm allocation refused under Err');
  // a body that says it is JSON is fine too; one that is "null" is an empty request
  t.same((await post(plugin.socket, 'Plugin.Activate', 'null')).body, { Implements: ['NetworkDriver', 'IpamDriver'] });
});

t.test('unknown methods are 404, bad bodies 400, both with Err', async (t) => {
  const { plugin, call } = await setup(t);
  const unknown = await call('NetworkDriver.Frobnicate', {});
  t.equal(unknown.status, 404);
  t.match(unknown.body, { Err: /does not implement POST \/NetworkDriver\.Frobnicate/ });
  const get = await new Promise<number>((resolve) => {
    http.get({ socketPath: plugin.socket, path: '/Plugin.Activate' }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
  });
  t.equal(get, 404, 'GET is no plugin call');
  const bad = await post(plugin.socket, 'IpamDriver.RequestPool', '{"Pool": ');
  t.equal(bad.status, 400);
  t.match(bad.body, { Err: /not JSON/ });
  const typed = await call('IpamDriver.RequestPool', { Pool: 42 });
  t.equal(typed.status, 200);
  t.match(typed.body, { Error: /invalid RequestPool request from dockerd: Pool must be a string/ }, 'IPAM refusals are under Error');
  t.notOk(typed.body && 'Err' in typed.body);
  const missing = await call('NetworkDriver.Join', {});
  t.match(missing.body, { Err: /EndpointID is missing/ }, 'network refusals are under Err');
  t.notOk(missing.body && 'Error' in missing.body);
  const withType = await post(plugin.socket, 'Plugin.Activate', '', { 'Content-Type': 'application/json' });
  t.same(withType.body, { Implements: ['NetworkDriver', 'IpamDriver'] }, 'an empty body with a JSON Content-Type is fine too');
});

t.test('RequestPool binds to a vxnet network by CIDR or name, and refuses anything else clearly', async (t) => {
  const { f, call } = await setup(t);
  const notOurs = await call('IpamDriver.RequestPool', { AddressSpace: 'vxnet-local', Pool: '172.18.0.0/16', SubPool: '', Options: {}, V6: false });
  t.equal(notOurs.status, 200);
  t.same(notOurs.body, { Error: 'could not give Docker the pool 172.18.0.0/16: no vxnet network has the subnet 172.18.0.0/16; vxnet networks: net-a 10.128.0.0/16, net-b 10.129.0.0/16' });
  const none = await call('IpamDriver.RequestPool', { AddressSpace: 'vxnet-local', Pool: '', SubPool: '', Options: {}, V6: false });
  t.match(none.body, { Error: /say which vxnet network: --subnet CIDR \(or --ipam-opt vxnet\.network=NAME\); vxnet networks: net-a/ });
  const v6 = await call('IpamDriver.RequestPool', { AddressSpace: 'vxnet-local', Pool: 'fd00::/64', SubPool: '', Options: {}, V6: true });
  t.match(v6.body, { Error: /IPv4 only/ });
  const range = await call('IpamDriver.RequestPool', { AddressSpace: 'vxnet-local', Pool: NET.subnet, SubPool: '10.128.7.0/24', Options: {}, V6: false });
  t.match(range.body, { Error: /--ip-range is not supported/ });
  const wrongName = await call('IpamDriver.RequestPool', { AddressSpace: 'vxnet-local', Pool: '', SubPool: '', Options: { 'vxnet.network': 'nope' }, V6: false });
  t.match(wrongName.body, { Error: /there is no vxnet network "nope"; vxnet networks: net-a 10\.128\.0\.0\/16/ });
  t.equal(f.agent.leaseOf(NET.id), undefined, 'nothing joined by refusals');

  const ok = await call('IpamDriver.RequestPool', { AddressSpace: 'vxnet-local', Pool: NET.subnet, SubPool: '', Options: {}, V6: false });
  const lease = f.agent.leaseOf(NET.id);
  t.ok(lease, 'the host joined the network (a lease)');
  const cidr = parseCidr(lease!.subnet);
  t.same(ok.body, { PoolID: `vxnet/${NET.id}/${NET.subnet}`, Pool: NET.subnet, Data: { 'com.docker.network.gateway': `${addressAt(cidr, 1)}/24` } });
  t.ok(f.dp.kernel.has(nsOf(NET)), 'its namespace exists');

  // trap D5: a pool dockerd chose itself is never handed out twice while held
  const byName = { AddressSpace: 'vxnet-local', Pool: '', SubPool: '', Options: { 'vxnet.network': 'net-b' }, V6: false };
  const first = await call('IpamDriver.RequestPool', byName);
  t.match(first.body, { PoolID: `vxnet/${OTHER.id}/${OTHER.subnet}`, Pool: OTHER.subnet });
  const again = await call('IpamDriver.RequestPool', byName);
  t.match(again.body, { Error: /already bound to a Docker network on this host; give its subnet with --subnet 10\.129\.0\.0\/16/ });
  t.same((await call('IpamDriver.ReleasePool', { PoolID: `vxnet/${OTHER.id}/${OTHER.subnet}` })).body, {});
  t.match((await call('IpamDriver.RequestPool', byName)).body, { PoolID: `vxnet/${OTHER.id}/${OTHER.subnet}` }, 'released: bound again');
  const mismatch = await call('IpamDriver.RequestPool', { AddressSpace: 'vxnet-local', Pool: NET.subnet, SubPool: '', Options: { 'vxnet.network': 'net-b' }, V6: false });
  t.match(mismatch.body, { Error: /vxnet network "net-b" has the subnet 10\.129\.0\.0\/16, not 10\.128\.0\.0\/16/ });
});

t.test('CreateNetwork refuses default-IPAM data, a foreign gateway, a bigger MTU, a mismatched -o vxnet.network', async (t) => {
  const { f, call } = await setup(t);
  const pool = await call('IpamDriver.RequestPool', { AddressSpace: 'vxnet-local', Pool: NET.subnet, SubPool: '', Options: {}, V6: false });
  const gw = (pool.body as { Data: Record<string, string> }).Data['com.docker.network.gateway'];
  const create = (over: object, opts: object = {}) => call('NetworkDriver.CreateNetwork', {
    NetworkID: DNET, Options: { 'com.docker.network.generic': opts, 'com.docker.network.enable_ipv6': false },
    IPv4Data: [{ AddressSpace: 'vxnet-local', Pool: NET.subnet, Gateway: gw, AuxAddresses: {}, ...over }], IPv6Data: [],
  });
  const dflt = await create({ AddressSpace: 'LocalDefault', Pool: '172.18.0.0/16', Gateway: '172.18.0.1/16' });
  t.equal(dflt.status, 200);
  t.same(dflt.body, { Err: `could not create Docker network ${DNET.slice(0, 12)} on vxnet: its addresses do not come from vxnet; add --ipam-driver vxnet (with --subnet CIDR of a vxnet network): Docker's default IPAM would give containers on different hosts the same addresses` });
  t.match((await create({ AddressSpace: 'LocalDefault' })).body, { Err: /add --ipam-driver vxnet/ }, 'even with a vxnet CIDR, the default IPAM is refused');
  t.match((await create({ Gateway: '10.128.99.1/24' })).body, { Err: /its gateway 10\.128\.99\.1\/24 is not this host's on vxnet network "net-a"/ });
  t.match((await create({}, { 'com.docker.network.driver.mtu': '9000' })).body, { Err: /com\.docker\.network\.driver\.mtu=9000: must be 1280-1450/ });
  t.match((await create({}, { 'vxnet.network': 'net-b' })).body, { Err: /-o vxnet\.network=net-b names another network than the pool's \("net-a", 10\.128\.0\.0\/16\)/ });
  t.match((await call('NetworkDriver.CreateNetwork', { NetworkID: DNET, Options: {}, IPv4Data: [], IPv6Data: [] })).body, { Err: /add --ipam-driver vxnet/ }, 'no IPv4 data');
  t.same(readJson(f.files.docker) ?? { networks: [] }, { networks: [], endpoints: [], pools: [{ poolId: `vxnet/${NET.id}/${NET.subnet}`, holds: 1 }] }, 'refused networks are not remembered');
  t.same((await create({}, { 'vxnet.network': 'net-a', 'com.docker.network.driver.mtu': '1400' })).body, {});
  t.match(readJson(f.files.docker), { networks: [{ id: DNET, networkId: NET.id, mtu: 1400 }] }, 'the binding is persisted');
});

t.test('the full call order: network create, run, --ip, rm, network rm; deletes idempotent', async (t) => {
  const { f, call } = await setup(t);
  const pool = await createNetwork(t, call);
  const lease = f.agent.leaseOf(NET.id)!;
  const cidr = parseCidr(lease.subnet);
  const gateway = addressAt(cidr, 1);

  const gw = await call('IpamDriver.RequestAddress', { PoolID: pool.PoolID, Address: '', Options: { RequestAddressType: 'com.docker.network.gateway' } });
  t.same(gw.body, { Address: `${gateway}/24`, Data: {} }, 'a gateway request answers this host\'s gateway');
  const otherGw = await call('IpamDriver.RequestAddress', { PoolID: pool.PoolID, Address: '10.128.250.1', Options: { RequestAddressType: 'com.docker.network.gateway' } });
  t.match(otherGw.body, { Error: new RegExp(`the gateway of vxnet network "net-a" on host h1 is ${gateway.replace(/\./g, '\\.')}`) });

  const c1 = await runContainer(call, pool.PoolID, EP1);
  t.equal(c1.address, `${addressAt(cidr, 2)}/24`, 'the first container address of the lease, with the lease prefix');
  const mac1 = `02:42:${addressAt(cidr, 2).split('.').map((o) => Number(o).toString(16).padStart(2, '0')).join(':')}`;
  t.same(c1.created.body, { Interface: { MacAddress: mac1 } }, 'CreateEndpoint: a MAC (none was given), never the address');
  t.same(c1.joined.body, {
    InterfaceName: { SrcName: handoffName(EP1), DstPrefix: 'eth' }, Gateway: gateway,
    StaticRoutes: [{ Destination: NET.subnet, RouteType: 0, NextHop: gateway }], DisableGatewayService: false,
  });
  t.equal(handoffName(EP1).length, 15);
  t.same(f.dp.handoffs.get(handoffName(EP1)), { hostIfname: `ve-${EP1.slice(0, 11)}`, handoffIfname: handoffName(EP1), mac: mac1, mtu: 1450, netns: nsOf(NET) }, 'the veth end is left for dockerd');
  const rec = JSON.parse((await f.store.get(k.endpoint(NET.id, EP1)))!.value) as EndpointRecord;
  t.match(rec, { id: EP1, networkId: NET.id, ip: addressAt(cidr, 2), mac: mac1, host: HOST, name: '' }, 'the store record (named later, from dockerd\'s events)');
  t.match(f.agent.endpoints().find((e) => e.id === EP1), { owner: 'docker', handoff: handoffName(EP1), sandbox: `/var/run/docker/netns/${EP1.slice(0, 12)}` });
  t.same((await call('NetworkDriver.EndpointOperInfo', { NetworkID: DNET, EndpointID: EP1 })).body, { Value: { 'vxnet.network': 'net-a', 'vxnet.ip': addressAt(cidr, 2), 'vxnet.host': HOST } });
  t.same((await call('NetworkDriver.ProgramExternalConnectivity', { NetworkID: DNET, EndpointID: EP1, Options: {} })).body, {});

  // --ip: inside the lease honoured (with a MAC given: not echoed), outside and taken refused readably
  const want = addressAt(cidr, 77);
  const inside = await call('IpamDriver.RequestAddress', { PoolID: pool.PoolID, Address: want, Options: {} });
  t.same(inside.body, { Address: `${want}/24`, Data: {} });
  const given = await call('NetworkDriver.CreateEndpoint', { NetworkID: DNET, EndpointID: EP2, Interface: { Address: `${want}/24`, AddressIPv6: '', MacAddress: '02:42:aa:bb:cc:dd' }, Options: {} });
  t.same(given.body, {}, 'a MAC that was given is not echoed (trap D2)');
  const outside = await call('IpamDriver.RequestAddress', { PoolID: pool.PoolID, Address: '10.128.250.9', Options: {} });
  t.same(outside.body, { Error: `could not use address 10.128.250.9 on network "net-a": it is outside this host's subnet ${lease.subnet}` });
  const taken = await call('IpamDriver.RequestAddress', { PoolID: pool.PoolID, Address: want, Options: {} });
  t.match(taken.body, { Error: /it is in use/ });
  const engineTry = await f.agent.createEndpoint({ network: NET.name, sandbox: '/run/netns/vxt-sandbox-1', name: 'e1', container: 'ctr-e1', owner: 'engine', ip: want }).catch((e: Error) => e);
  t.match(engineTry, { code: 'VXNET_ADDRESS_UNAVAILABLE' }, 'an address Docker holds is not the engine\'s');
  const epOutside = await call('NetworkDriver.CreateEndpoint', { NetworkID: DNET, EndpointID: dockerId('3'), Interface: { Address: '10.128.250.9/24', AddressIPv6: '', MacAddress: '' }, Options: {} });
  t.match(epOutside.body, { Err: /address 10\.128\.250\.9\/24 is not in this host's subnet/ });
  const ports = await call('NetworkDriver.CreateEndpoint', { NetworkID: DNET, EndpointID: dockerId('4'), Interface: { Address: `${addressAt(cidr, 5)}/24`, AddressIPv6: '', MacAddress: '' }, Options: { 'com.docker.network.portmap': [{ Proto: 6, Port: 80, HostPort: 8080 }] } });
  t.match(ports.body, { Err: /publishing ports \(-p, -P\) on a vxnet network is not supported yet/ });
  const unknownNet = await call('NetworkDriver.CreateEndpoint', { NetworkID: dockerId('9'), EndpointID: dockerId('5'), Interface: { Address: `${addressAt(cidr, 6)}/24`, AddressIPv6: '', MacAddress: '' }, Options: {} });
  t.match(unknownNet.body, { Err: /Docker network 999999999999 is not bound to vxnet on this host/ });
  const badId = await call('NetworkDriver.CreateEndpoint', { NetworkID: DNET, EndpointID: 'not-hex', Interface: { Address: `${addressAt(cidr, 6)}/24`, AddressIPv6: '', MacAddress: '' }, Options: {} });
  t.same(badId.body, { Err: 'invalid CreateEndpoint request from dockerd: EndpointID "not-hex" is not 64 hex digits' });
  const badPool = await call('IpamDriver.RequestAddress', { PoolID: 'default/172.17.0.0/16', Address: '', Options: {} });
  t.same(badPool.body, { Error: 'could not give Docker an address: pool default/172.17.0.0/16 was not given by vxnet' });
  const unknownJoin = await call('NetworkDriver.Join', { NetworkID: DNET, EndpointID: dockerId('6'), SandboxKey: '/var/run/docker/netns/x', Options: {} });
  t.match(unknownJoin.body, { Err: /vxnet on this host has no such endpoint/ });

  // docker rm: Revoke, Leave, DeleteEndpoint, ReleaseAddress; then again (idempotent)
  for (let round = 0; round < 2; round++) {
    t.same((await call('NetworkDriver.RevokeExternalConnectivity', { NetworkID: DNET, EndpointID: EP1 })).body, {});
    t.same((await call('NetworkDriver.Leave', { NetworkID: DNET, EndpointID: EP1 })).body, {});
    t.same((await call('NetworkDriver.DeleteEndpoint', { NetworkID: DNET, EndpointID: EP1 })).body, {});
    t.same((await call('IpamDriver.ReleaseAddress', { PoolID: pool.PoolID, Address: addressAt(cidr, 2) })).body, {});
  }
  t.notOk(f.dp.handoffs.has(handoffName(EP1)), 'no veth end left');
  t.notOk(f.dp.kernel.get(nsOf(NET))?.veths.has(`ve-${EP1.slice(0, 11)}`), 'no veth left on the bridge');
  t.same(await storeKeys(f, k.endpoints), [], 'no store record left');
  t.notOk(f.agent.endpoints().some((e) => e.id === EP1), 'no local endpoint left');
  t.same((await call('IpamDriver.RequestAddress', { PoolID: pool.PoolID, Address: '', Options: {} })).body, { Address: `${addressAt(cidr, 2)}/24`, Data: {} }, 'the address is free again');

  // unknown ids of every kind: success
  const unknown = { NetworkID: dockerId('e'), EndpointID: dockerId('f') };
  t.same((await call('NetworkDriver.Leave', unknown)).body, {});
  t.same((await call('NetworkDriver.DeleteEndpoint', unknown)).body, {});
  t.same((await call('NetworkDriver.EndpointOperInfo', unknown)).body, { Value: {} });
  t.same((await call('NetworkDriver.DeleteNetwork', { NetworkID: dockerId('e') })).body, {});
  t.same((await call('IpamDriver.ReleaseAddress', { PoolID: 'vxnet/nonsense', Address: '10.1.2.3' })).body, {});
  t.same((await call('IpamDriver.ReleasePool', { PoolID: 'vxnet/nonsense' })).body, {});
  t.same((await call('IpamDriver.ReleaseAddress', { PoolID: pool.PoolID, Address: `${gateway}` })).body, {}, 'the gateway: a no-op');

  // docker network rm
  t.same((await call('IpamDriver.ReleasePool', { PoolID: pool.PoolID })).body, {});
  t.same((await call('NetworkDriver.DeleteNetwork', { NetworkID: DNET })).body, {});
  t.same((await call('NetworkDriver.DeleteNetwork', { NetworkID: DNET })).body, {}, 'twice');
  t.match(JSON.parse(readFileSync(f.files.docker, 'utf8')), { networks: [], pools: [] });
});

t.test('a restarted agent and plugin answer later calls for the ids they remember', async (t) => {
  const f: Fixture = await fixture(t, [NET]);
  await f.agent.start();
  let plugin = await startPlugin(t, f.agent, f.files.docker);
  let call = (p: string, b?: unknown) => post(plugin.socket, p, b);
  const pool = await createNetwork(t, call);
  const c1 = await runContainer(call, pool.PoolID, EP1);
  t.equal(c1.joined.status, 200);
  const ip = c1.address.split('/')[0]!;

  await plugin.stop();
  const agent = await f.restart();
  await agent.start();
  plugin = await startPlugin(t, agent, f.files.docker);
  call = (p: string, b?: unknown) => post(plugin.socket, p, b);
  t.ok(f.dp.handoffs.has(handoffName(EP1)), 'the restart (reconcile, sweep) kept the Docker endpoint');
  t.ok(await f.store.get(k.endpoint(NET.id, EP1)), 'and its store record');
  const taken = await call('IpamDriver.RequestAddress', { PoolID: pool.PoolID, Address: ip, Options: {} });
  t.match(taken.body, { Error: /in use/ }, 'its address is still held');
  t.same((await call('NetworkDriver.EndpointOperInfo', { NetworkID: DNET, EndpointID: EP1 })).body, { Value: { 'vxnet.network': 'net-a', 'vxnet.ip': ip, 'vxnet.host': HOST } });
  const c2 = await runContainer(call, pool.PoolID, EP2);
  t.equal(c2.joined.status, 200);
  t.match(c2.joined.body, { InterfaceName: { SrcName: handoffName(EP2) } }, 'a new container after the restart');
  t.same((await call('NetworkDriver.Leave', { NetworkID: DNET, EndpointID: EP1 })).body, {});
  t.same((await call('NetworkDriver.DeleteEndpoint', { NetworkID: DNET, EndpointID: EP1 })).body, {});
  t.same((await call('IpamDriver.ReleaseAddress', { PoolID: pool.PoolID, Address: ip })).body, {});
  t.notOk(f.dp.handoffs.has(handoffName(EP1)), 'the old endpoint is gone');
  t.notOk(await f.store.get(k.endpoint(NET.id, EP1)), 'with its store record');
  t.same((await call('IpamDriver.RequestAddress', { PoolID: pool.PoolID, Address: ip, Options: {} })).body, { Address: `${ip}/24`, Data: {} }, 'and its address');
});

t.test('with the store down every call is answered within the bound; a Leave that could not finish is swept', async (t) => {
  const { f, plugin, call } = await setup(t, { timeoutMs: 300, removeWaitMs: 100 });
  const pool = await createNetwork(t, call);
  const c1 = await runContainer(call, pool.PoolID, EP1);
  t.equal(c1.joined.status, 200);

  f.store.stall();
  const start = performance.now();
  const poolB = await call('IpamDriver.RequestPool', { AddressSpace: 'vxnet-local', Pool: OTHER.subnet, SubPool: '', Options: {}, V6: false });
  const ms = performance.now() - start;
  t.ok(ms < 1000, `answered in ${Math.round(ms)} ms`);
  t.match(poolB.body, { Error: /could not answer IpamDriver\.RequestPool within 0\.3 s on host h1 \(is the store reachable\?\)/ });
  t.match((await call('NetworkDriver.Join', { NetworkID: DNET, EndpointID: EP1, SandboxKey: '/x', Options: {} })).body, { InterfaceName: { SrcName: handoffName(EP1) } }, 'a Join again of a joined endpoint: the same answer, at once');
  const cidr = parseCidr(f.agent.leaseOf(NET.id)!.subnet);
  const created = await call('NetworkDriver.CreateEndpoint', { NetworkID: DNET, EndpointID: EP2, Interface: { Address: `${addressAt(cidr, 9)}/24`, AddressIPv6: '', MacAddress: '' }, Options: {} });
  t.match(created.body, { Interface: {} }, 'CreateEndpoint needs no store');
  const join = await call('NetworkDriver.Join', { NetworkID: DNET, EndpointID: EP2, SandboxKey: '/x', Options: {} });
  t.equal(join.status, 200, 'the agent is busy behind the stalled store: still an answer');
  t.match(join.body, { Err: /within 0\.3 s/ });
  t.same((await call('NetworkDriver.DeleteEndpoint', { NetworkID: DNET, EndpointID: EP2 })).body, {}, 'dockerd gives up on it: deleted');
  const leave = await call('NetworkDriver.Leave', { NetworkID: DNET, EndpointID: EP1 });
  t.same(leave.body, {}, 'Leave succeeds: the removal goes on in the background');
  t.same((await call('NetworkDriver.DeleteEndpoint', { NetworkID: DNET, EndpointID: EP1 })).body, {}, 'so does DeleteEndpoint');
  t.same((await call('Plugin.Activate')).body, { Implements: ['NetworkDriver', 'IpamDriver'] }, 'calls that need nothing answer at once');

  f.store.resume();
  await plugin.driver.sweep();
  await new Promise((r) => setTimeout(r, 50));
  await plugin.driver.sweep();
  t.same(f.agent.endpoints().map((e) => e.id), [], 'the sweep removed what the Leave could not, and the Join that finished late');
  t.notOk(f.dp.handoffs.has(handoffName(EP1)));
  t.same(await storeKeys(f, k.endpoints), []);
});

t.test('names from dockerd reach the store record (before or after Join)', async (t) => {
  const { f, plugin, call } = await setup(t);
  const pool = await createNetwork(t, call);
  await runContainer(call, pool.PoolID, EP1);
  await plugin.driver.nameEndpoint(EP1, { name: 'c1', aliases: ['web', 'abcdef012345'], container: 'c'.repeat(64) });
  const rec = JSON.parse((await f.store.get(k.endpoint(NET.id, EP1)))!.value) as EndpointRecord;
  t.match(rec, { name: 'c1', aliases: ['web', 'abcdef012345'], container: 'c'.repeat(64) });

  // names known before the Join (an event that came early) are used by it
  const addr = await call('IpamDriver.RequestAddress', { PoolID: pool.PoolID, Address: '', Options: {} });
  await call('NetworkDriver.CreateEndpoint', { NetworkID: DNET, EndpointID: EP2, Interface: { Address: (addr.body as { Address: string }).Address, AddressIPv6: '', MacAddress: '' }, Options: {} });
  await plugin.driver.nameEndpoint(EP2, { name: 'c2', aliases: [], container: 'e'.repeat(64) });
  await call('NetworkDriver.Join', { NetworkID: DNET, EndpointID: EP2, SandboxKey: '/x', Options: {} });
  t.match(JSON.parse((await f.store.get(k.endpoint(NET.id, EP2)))!.value), { name: 'c2', container: 'e'.repeat(64) });
  t.same(plugin.driver.unnamed(), [], 'nothing left to name');
  await plugin.driver.nameEndpoint(dockerId('7'), { name: 'x', aliases: [], container: 'x' });
  t.pass('unknown endpoints: nothing');
});

t.test('without docker.json, the Docker endpoints the agent has are kept, and still removed by dockerd\'s Leave', async (t) => {
  const f = await fixture(t, [NET]);
  await f.agent.start();
  let plugin = await startPlugin(t, f.agent, f.files.docker);
  const pool = await createNetwork(t, (p, b) => post(plugin.socket, p, b));
  await runContainer((p, b) => post(plugin.socket, p, b), pool.PoolID, EP1);
  await plugin.stop();
  rmSync(f.files.docker);
  plugin = await startPlugin(t, f.agent, f.files.docker);
  await plugin.driver.sweep();
  t.ok(f.agent.endpoints().some((e) => e.id === EP1), 'not swept');
  t.same((await post(plugin.socket, 'NetworkDriver.Leave', { NetworkID: DNET, EndpointID: EP1 })).body, {});
  t.notOk(f.agent.endpoints().some((e) => e.id === EP1), 'Leave removed it');
});
