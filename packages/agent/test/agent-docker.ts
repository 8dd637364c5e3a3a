/**
 * What the Agent gives the Docker plugin, on fakes (fake data plane, MemoryStore):
 * addresses reserved for an IPAM client (reserveAddress/releaseAddress, reserved.json),
 * handed-off endpoints (kept across restarts whatever their sandbox), names given
 * after the fact (setEndpointNames), ensureJoined.
 */
import t from 'tap';
import { addressAt, parseCidr, type EndpointRecord } from '@vxnet/common';

import { NET, SANDBOX, fixture, k, network, nsOf, readJson } from './helpers/agent-fixture.js';

const ID = 'd'.repeat(64);

t.test('reserveAddress: lowest free, or the one asked for inside the lease; held against everyone but its holder; released', async (t) => {
  const f = await fixture(t);
  await f.agent.start();
  const { lease, mtu } = await f.agent.ensureJoined(NET.name);
  t.equal(mtu, 1450);
  const c = parseCidr(lease.subnet);
  const r1 = await f.agent.reserveAddress(NET.id, undefined, 'docker');
  t.same(r1, { ip: addressAt(c, 2), prefixLength: 24, gateway: addressAt(c, 1) });
  t.same((await f.agent.reserveAddress(NET.id, addressAt(c, 9), 'docker')).ip, addressAt(c, 9));
  for (const [ip, why] of [[addressAt(c, 9), /it is in use/], [addressAt(c, 1), /it is the gateway/], ['10.200.0.5', /outside this host's subnet/], ['nope', /not an IPv4 address/]] as const) {
    await t.rejects(f.agent.reserveAddress(NET.id, ip, 'docker'), { code: 'VXNET_ADDRESS_UNAVAILABLE', message: why });
  }
  const engine = await f.agent.createEndpoint({ network: NET.name, sandbox: SANDBOX, name: 'e1', container: 'ctr-e1', owner: 'engine' });
  t.equal(engine.ip, addressAt(c, 3), 'the engine gets the next address no one holds');
  await t.rejects(f.agent.createEndpoint({ network: NET.name, sandbox: SANDBOX, name: 'e2', container: 'ctr-e2', owner: 'engine', ip: addressAt(c, 2) }), { code: 'VXNET_ADDRESS_UNAVAILABLE' });
  const docker = await f.agent.createEndpoint({ id: ID, network: NET.name, sandbox: '/var/run/docker/netns/x', name: '', container: ID, owner: 'docker', ip: addressAt(c, 2), handoff: 'vxdddddddddddd' });
  t.equal(docker.ip, addressAt(c, 2), 'its holder takes it');
  t.match(readJson(f.files.reserved), [{ networkId: NET.id, ip: addressAt(c, 2), holder: 'docker' }, { networkId: NET.id, ip: addressAt(c, 9), holder: 'docker' }]);

  const again = await f.restart();
  await again.start();
  await t.rejects(again.reserveAddress(NET.id, addressAt(c, 9), 'docker'), { message: /in use/ }, 'reservations survive a restart');
  t.equal(await again.releaseAddress(NET.id, addressAt(c, 9)), true);
  t.equal(await again.releaseAddress(NET.id, addressAt(c, 9)), false, 'idempotent');
  t.same((await again.reserveAddress(NET.id, addressAt(c, 9), 'docker')).ip, addressAt(c, 9), 'free again');
});

t.test('a handed-off endpoint: the container end left for the runtime, kept across restarts though its sandbox does not exist', async (t) => {
  const f = await fixture(t);
  await f.agent.start();
  const ep = await f.agent.createEndpoint({ id: ID, network: NET.name, sandbox: '/var/run/docker/netns/none', name: '', container: ID, owner: 'docker', handoff: 'vxdddddddddddd', mac: '02:42:aa:bb:cc:dd', mtu: 1400 });
  t.match(ep, { id: ID, handoff: 'vxdddddddddddd', mac: '02:42:aa:bb:cc:dd', mtu: 1400, hostIfname: `ve-${ID.slice(0, 11)}` });
  t.same(f.dp.handoffs.get('vxdddddddddddd'), { hostIfname: `ve-${ID.slice(0, 11)}`, handoffIfname: 'vxdddddddddddd', mac: '02:42:aa:bb:cc:dd', mtu: 1400, netns: nsOf(NET) });
  t.notOk(f.dp.calls.some((c) => c.startsWith('ensureEndpoint')), 'the sandbox is never entered');
  await t.rejects(f.agent.createEndpoint({ id: ID, network: NET.name, sandbox: '/x', name: '', owner: 'docker', handoff: 'vxdddddddddddd' }), { code: 'VXNET_ENDPOINT_EXISTS' });
  const big = await f.agent.createEndpoint({ id: 'e'.repeat(64), network: NET.name, sandbox: '/x', name: '', owner: 'docker', handoff: 'vxdeeeeeeeeeee', mtu: 9000 });
  t.equal(big.mtu, 1450, 'never above the network MTU');

  const again = await f.restart();
  await again.start();
  t.ok(again.endpoints().some((e) => e.id === ID), 'not dropped for its missing sandbox');
  t.ok(f.dp.kernel.get(nsOf(NET))?.veths.has(`ve-${ID.slice(0, 11)}`), 'its veth kept by reconcile');
  await again.deleteEndpoint(ID);
  t.notOk(f.dp.handoffs.has('vxdddddddddddd'), 'deleteEndpoint removes the pair');
});

t.test('setEndpointNames: the store record gets the names; unknown ids are NOT_FOUND', async (t) => {
  const f = await fixture(t);
  await f.agent.start();
  await f.agent.createEndpoint({ id: ID, network: NET.name, sandbox: '/x', name: '', container: ID, owner: 'docker', handoff: 'vxdddddddddddd' });
  const rec = async () => JSON.parse((await f.store.get(k.endpoint(NET.id, ID)))!.value) as EndpointRecord;
  t.match(await rec(), { name: '', aliases: [], container: ID });
  const writes = f.store.writes.length;
  await f.agent.setEndpointNames(ID, { name: 'c1', aliases: ['web'], container: 'c'.repeat(64) });
  t.match(await rec(), { name: 'c1', aliases: ['web'], container: 'c'.repeat(64) });
  t.match(f.agent.endpoints().find((e) => e.id === ID), { name: 'c1', aliases: ['web'] }, 'and the local record');
  await f.agent.setEndpointNames(ID, { name: 'c1', aliases: ['web'], container: 'c'.repeat(64) });
  t.equal(f.store.writes.length, writes + 1, 'unchanged names: no second write');
  f.store.failNext('put', k.endpoints);
  await t.rejects(f.agent.setEndpointNames(ID, { name: 'c9', aliases: [], container: 'c'.repeat(64) }), /injected put failure/);
  t.match(f.agent.endpoints().find((e) => e.id === ID), { name: 'c1' }, 'a failed put leaves the local record as it was');
  await f.agent.setEndpointNames(ID, { name: 'c9', aliases: [], container: 'c'.repeat(64) });
  t.match(await rec(), { name: 'c9' }, 'so the retry writes');
  await t.rejects(f.agent.setEndpointNames('f'.repeat(64), { name: 'x', aliases: [], container: 'x' }), { code: 'VXNET_ENDPOINT_NOT_FOUND' });
  await t.rejects(f.agent.setEndpointNames(ID.slice(0, 12), { name: 'x', aliases: [], container: 'x' }), { code: 'VXNET_ENDPOINT_NOT_FOUND' }, 'exact ids only');
  await t.rejects(f.agent.ensureJoined('nope'), { code: 'VXNET_NETWORK_NOT_FOUND' });
});

t.test('a network removed from the store takes its reservations with it', async (t) => {
  const other = network('b', { name: 'net-b', subnet: '10.129.0.0/16', vni: 4097 });
  const f = await fixture(t, [NET, other]);
  await f.agent.start();
  await f.agent.reserveAddress(other.id, undefined, 'docker');
  await f.agent.reserveAddress(NET.id, undefined, 'docker');
  await f.store.delete(k.network(other.id));
  const deadline = Date.now() + 2000;
  while (f.agent.leaseOf(other.id) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  t.notOk(f.agent.leaseOf(other.id), 'left');
  t.same((readJson(f.files.reserved) as Array<{ networkId: string }>).map((r) => r.networkId), [NET.id]);
});
