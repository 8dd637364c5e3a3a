/**
 * The Agent's decisions, with fakes at its seams: a fake data plane (a map standing
 * for the kernel, every call recorded, a failure injectable at any step), the real
 * LeaseManager and HostRegistration on a MemoryStore that records writes and can
 * fail one (helpers/agent-fixture.ts). The kernel-and-etcd version of the start-up
 * checks is agent-kernel.ts; traffic in and out (uplinks, ports, expose) is agent-egress.ts.
 */
import t from 'tap';
import { readFileSync, writeFileSync } from 'node:fs';
import type { NetworkSpec, SubnetLease, WatchEvent } from '@vxnet/common';
import type { LocalEndpoint } from '@vxnet/common/api';
import {
  HOST, NET, SANDBOX, attach, fixture, k, leasesOf, network, nothingLeaked, nsOf, readJson, recordedNamespaces, storeKeys, type Fixture,
} from './helpers/agent-fixture.js';

t.test('join order: VTEP first, then exactly one lease write carrying its MAC, then bridge and addresses', async (t) => {
  const f = await fixture(t);
  await f.agent.start();
  const events: WatchEvent[] = [];
  const from = await f.store.list(k.leases);
  const watch = await f.store.watch(k.leases, from, { onEvents: (ev) => void events.push(...ev), onResync: () => undefined, onError: () => undefined });
  t.teardown(() => watch.close());

  const ep = await attach(f);
  await new Promise((resolve) => setImmediate(resolve));
  t.equal(events.length, 1, 'one write under leases/ for the join');
  const [e] = events;
  const lease = e?.type === 'put' ? (JSON.parse(e.kv.value) as SubnetLease) : undefined;
  t.equal(e?.type, 'put');
  t.equal(lease?.vtepMac, f.dp.kernel.get(nsOf(NET))?.vtepMac, "it carries the VTEP's MAC");
  t.match(lease?.vtepMac, /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/);
  const kernelCalls = f.dp.calls.filter((c) => /^ensure(Vtep|Network|Endpoint)/.test(c));
  t.same(kernelCalls, [`ensureVtep ${nsOf(NET)}`, `ensureNetwork ${nsOf(NET)}`, `ensureEndpoint ${nsOf(NET)}`], 'VTEP, then network, then endpoint');
  t.equal(f.dp.kernel.get(nsOf(NET))?.subnet, lease?.subnet, 'the bridge got the leased subnet');
  t.match(ep, { networkId: NET.id, owner: 'engine', container: 'ctr-c1', sandbox: SANDBOX });

  await attach(f, 'c2');
  await new Promise((resolve) => setImmediate(resolve));
  t.equal(events.length, 1, 'a second endpoint on the joined network writes no lease');
  t.same(recordedNamespaces(f), [nsOf(NET)], 'the namespace is recorded');
});

t.test('the namespace is recorded before it is created', async (t) => {
  const f = await fixture(t);
  await f.agent.start();
  let recordedFirst: boolean | undefined;
  const ensureVtep = f.dp.ensureVtep.bind(f.dp);
  f.dp.ensureVtep = (spec) => {
    recordedFirst ??= recordedNamespaces(f).includes(spec.netns) && !f.dp.kernel.has(spec.netns);
    return ensureVtep(spec);
  };
  await attach(f);
  t.equal(recordedFirst, true);
});

t.test('createEndpoint: a failure at any step leaves nothing behind', async (t) => {
  const steps: Array<[string, (f: Fixture) => void]> = [
    ['ensureVtep', (f) => f.dp.failNext('ensureVtep')],
    ['ensureVtep (after the device was made)', (f) => f.dp.failNext('ensureVtep', true)],
    ['the lease write', (f) => f.store.failNext('create', k.leases)],
    ['ensureNetwork', (f) => f.dp.failNext('ensureNetwork')],
    ['ensureNetwork (after the bridge was made)', (f) => f.dp.failNext('ensureNetwork', true)],
    ['ensurePeers', (f) => f.dp.failNext('ensurePeers')],
    ['address allocation (requested address outside the subnet)', () => undefined],
    ['ensureEndpoint', (f) => f.dp.failNext('ensureEndpoint')],
    ['ensureEndpoint (after the veth was made)', (f) => f.dp.failNext('ensureEndpoint', true)],
    ['the endpoint record put', (f) => f.store.failNext('put', k.endpoints)],
    ['the endpoint record put (applied, then an error)', (f) => f.store.failNext('put', k.endpoints, true)],
  ];
  for (const [step, arm] of steps) {
    t.test(step, async (t) => {
      const f = await fixture(t);
      // h2 holds a lease on the network, so the join programs a peer
      const now = new Date().toISOString();
      const h2: SubnetLease = { networkId: NET.id, subnet: '10.128.200.0/24', host: 'h2', underlayIp: '192.0.2.2', vtepMac: '02:00:00:00:02:02', acquiredAt: now, renewedAt: now, expiresAt: now };
      await f.store.put(k.lease(NET.id, h2.subnet), JSON.stringify(h2));
      await f.store.put(k.hostAlive('h2'), JSON.stringify({ name: 'h2' }));
      await f.agent.start();
      arm(f);
      const over = step.startsWith('address') ? { ip: '10.250.0.9' } : {};
      await t.rejects(attach(f, 'c1', over));
      await nothingLeaked(t, f);
      t.same(await leasesOf(f, 'h2'), [h2.subnet], "h2's lease is untouched");
    });
  }
});

t.test('a failure on a network already joined keeps the network and the endpoints on it', async (t) => {
  const f = await fixture(t);
  await f.agent.start();
  const first = await attach(f, 'c1');
  const lease = await leasesOf(f, HOST);
  f.dp.failNext('ensureEndpoint', true);
  await t.rejects(attach(f, 'c2'), { code: 'VXNET_DATAPLANE_FAILED' });
  t.same(f.agent.endpoints().map((e) => e.id), [first.id], 'the first endpoint stays, the second is not recorded');
  t.same([...f.dp.kernel.get(nsOf(NET))!.veths], [first.hostIfname], "the failed endpoint's veth was deleted");
  t.same(await storeKeys(f, k.endpoints), [k.endpoint(NET.id, first.id)]);
  t.same(await leasesOf(f, HOST), lease, 'the lease stays');
  t.same(recordedNamespaces(f), [nsOf(NET)], 'the namespace stays recorded');
});

/** Local state of an earlier run: endpoint e1 (sandbox alive) and e2 (sandbox gone) on NET. */
function earlierRun(f: Fixture, other: NetworkSpec): { e1: LocalEndpoint; e2: LocalEndpoint } {
  const ep = (n: number, sandbox: string): LocalEndpoint => ({
    id: String(n).repeat(64), networkId: NET.id, networkName: NET.name, name: `c${n}`, aliases: [], ip: `10.128.9.${n + 1}`, mac: '02:42:0a:80:09:02',
    host: HOST, container: `ctr-${n}`, createdAt: new Date(0).toISOString(), sandbox, hostIfname: `ve-${n}`, ifname: 'eth0',
    prefixLength: 24, gateway: '10.128.9.1', mtu: 1450, owner: 'engine',
  });
  const e1 = ep(1, SANDBOX);
  const e2 = ep(2, '/run/netns/vxt-sandbox-gone');
  writeFileSync(f.files.endpoints, JSON.stringify([e1, e2]));
  writeFileSync(f.files.subnets, JSON.stringify({ [NET.id]: '10.128.9.0/24' }));
  writeFileSync(f.files.namespaces, JSON.stringify([
    { name: nsOf(NET), networkId: NET.id, recordedAt: new Date(0).toISOString() },
    { name: nsOf(other), networkId: other.id, recordedAt: new Date(0).toISOString() },
  ]));
  const k1 = f.dp.kernel;
  k1.set(nsOf(NET), { vtepMac: '02:00:00:00:00:aa', subnet: '10.128.9.0/24', veths: new Set(['ve-1', 've-2', 've-stray']), peers: new Map() });
  k1.set(nsOf(other), { vtepMac: '02:00:00:00:00:bb', veths: new Set(), peers: new Map() });
  // not the agent's: a foreign namespace named like the agent's, and an engine sandbox
  k1.set('vxnet-cccccccccccc', { vtepMac: '02:00:00:00:00:cc', veths: new Set(['ve-foreign']), peers: new Map() });
  k1.set('vxnet-s-0123456789ab', { vtepMac: '', veths: new Set(), peers: new Map() });
  return { e1, e2 };
}

t.test('start reconciles by record: recorded namespaces it no longer wants go, foreign ones and sandboxes stay', async (t) => {
  const other = network('b', { name: 'net-b', vni: 4097 }); // exists, but this host has neither lease nor endpoint on it
  const f = await fixture(t, [NET, other]);
  earlierRun(f, other);
  await f.agent.start();
  t.same(f.dp.calls.filter((c) => c.startsWith('deleteNetwork')), [`deleteNetwork ${nsOf(other)}`], 'only the recorded, unwanted namespace is deleted');
  t.same([...f.dp.kernel.keys()].sort(), [nsOf(NET), 'vxnet-cccccccccccc', 'vxnet-s-0123456789ab'], 'foreign namespace and sandbox untouched');
  t.same([...f.dp.kernel.get('vxnet-cccccccccccc')!.veths], ['ve-foreign'], 'nothing inside a foreign namespace is touched');
  t.same(recordedNamespaces(f), [nsOf(NET)], 'the record follows');
  t.same([...f.dp.kernel.get(nsOf(NET))!.veths], ['ve-1'], 'veths without a record (and of a dropped endpoint) deleted in our namespace');
});

t.test('start drops endpoints whose sandbox is gone before publishing: veth, store record, local record', async (t) => {
  const other = network('b', { name: 'net-b', vni: 4097 });
  const f = await fixture(t, [NET, other]);
  const { e1, e2 } = earlierRun(f, other);
  // the earlier run's records are still in the store (its liveness lease has not run out)
  for (const e of [e1, e2]) await f.store.put(k.endpoint(NET.id, e.id), JSON.stringify({ id: e.id, networkId: NET.id, name: e.name, host: HOST }));
  f.store.writes.length = 0;
  await f.agent.start();
  t.same(f.agent.endpoints().map((e) => e.id), [e1.id], 'only the endpoint with a live sandbox is kept');
  t.same((readJson(f.files.endpoints) as LocalEndpoint[]).map((e) => e.id), [e1.id], 'and written so');
  t.same(await storeKeys(f, k.endpoints), [k.endpoint(NET.id, e1.id)], "the dropped endpoint's store record is deleted");
  t.ok(f.dp.calls.includes(`deleteEndpoint ${nsOf(NET)}`), 'its veth is deleted');
  t.notOk(f.store.writes.some((w) => w.op === 'put' && w.key === k.endpoint(NET.id, e2.id)), 'it is never published again');
  t.equal(f.store.writes.filter((w) => w.key.startsWith(k.leases) && w.op !== 'delete').length, 1, 'one lease write at start (the remembered subnet, with the MAC)');
  t.same(await leasesOf(f, HOST), ['10.128.9.0/24'], 'the remembered subnet is taken back');
});

t.test('an unreadable state file stops the start before anything is changed', async (t) => {
  for (const which of ['endpoints', 'namespaces', 'subnets', 'uplinks', 'exposed'] as const) {
    for (const [what, content] of [['corrupt', '[{"id": "1"'], ['of the wrong shape', '{"not": "a list"}']] as const) {
      if (which === 'subnets' && what === 'of the wrong shape') continue; // an object is the right shape there
      t.test(`${which}.json ${what}`, async (t) => {
        const other = network('b', { name: 'net-b', vni: 4097 });
        const f = await fixture(t, [NET, other]);
        earlierRun(f, other);
        writeFileSync(f.files[which], content);
        const kernelBefore = JSON.stringify([...f.dp.kernel].map(([n, ns]) => [n, [...ns.veths]]));
        f.store.writes.length = 0;
        const file = f.files[which];
        await t.rejects(f.agent.start(), { code: 'VXNET_STATE_UNREADABLE', message: new RegExp(`^cannot read state file ${file} \\(.+\\): fix or restore it; nothing was changed\\. To rebuild from scratch, .*remove ${file}`) });
        t.same(f.dp.calls, [], 'no data-plane call');
        t.same(f.store.writes, [], 'no store write');
        t.equal(JSON.stringify([...f.dp.kernel].map(([n, ns]) => [n, [...ns.veths]])), kernelBefore, 'the kernel is as it was');
        t.equal(readFileSync(file, 'utf8'), content, 'the file is left as it was');
      });
    }
  }
});

t.test('a missing state file is a fresh start', async (t) => {
  const f = await fixture(t);
  await f.agent.start();
  t.same(f.agent.endpoints(), []);
  t.same(f.dp.calls, [], 'nothing to reconcile');
});

t.test('subnet leases are followed only on joined networks: from the join until the network goes', async (t) => {
  const other = network('b', { subnet: '10.129.0.0/16', vni: 4097 });
  const f = await fixture(t, [NET, other]);
  const now = new Date().toISOString();
  const peerOn = async (net: NetworkSpec, host: string, subnet: string) => {
    const l: SubnetLease = { networkId: net.id, subnet, host, underlayIp: '192.0.2.2', vtepMac: '02:00:00:00:02:02', acquiredAt: now, renewedAt: now, expiresAt: now };
    await f.store.put(k.lease(net.id, subnet), JSON.stringify(l));
  };
  const leaseWatches = () => f.store.watched.filter((p) => p.startsWith(k.leases));
  const settle = () => new Promise((resolve) => setTimeout(resolve, 50));
  await f.store.put(k.hostAlive('h2'), JSON.stringify({ name: 'h2' }));
  await peerOn(other, 'h2', '10.129.2.0/24');
  await f.agent.start();
  t.same(leaseWatches(), [], 'no lease is followed before a join');

  await attach(f);
  t.same(leaseWatches(), [k.networkLeases(NET.id)], "the join follows the joined network's leases, and only those");
  await peerOn(NET, 'h2', '10.128.2.0/24');
  await settle();
  t.same([...(f.dp.kernel.get(nsOf(NET))?.peers.keys() ?? [])], ['10.128.2.0/24'], 'a lease put after the join is programmed (the watch)');
  t.notOk(f.dp.kernel.has(nsOf(other)), 'the other network stays unjoined');

  f.store.watched.length = 0;
  await f.restart();
  await f.agent.start();
  t.same(leaseWatches(), [k.networkLeases(NET.id)], 'a restarted agent follows the networks it had joined, and only those');

  await f.store.delete(k.network(NET.id));
  await settle();
  t.notOk(f.dp.kernel.has(nsOf(NET)), 'the network went, and the agent left it');
  t.same(f.store.openWatches.filter((p) => p.startsWith(k.leases)), [], 'its leases are no longer followed');
});
