/**
 * The API through inject(), on the in-memory store and on a real etcd (the same
 * tests, once per store).
 */
import t, { type Test } from 'tap';
import { randomBytes } from 'node:crypto';
import { MemoryStore, keys, silentLogger, type HostRecord, type SubnetLease, type EndpointRecord, type Store, type Keys } from '@vxnet/common';
import { EtcdStore } from '@vxnet/common/etcd';
import { etcdMissing, startTestEtcd } from '@vxnet/common/testing';
import { build } from '../src/app.js';

const pool = { defaultPool: '10.128.0.0/9', defaultBlockLength: 16, excluded: [{ cidr: '192.0.2.0/24', reason: 'the underlay' }] };

function suite(parent: Test, makeStore: () => Store) {
  /** Each setup gets its own key prefix, so tests sharing one etcd never see each other's data. */
  async function setup(t: Test, token?: string): Promise<{ store: Store; app: Awaited<ReturnType<typeof build>>; k: Keys }> {
    const store = makeStore();
    const k = keys(`/t-${randomBytes(4).toString('hex')}/`);
    const app = await build({ store, keys: k, pool, logger: silentLogger(), ...(token ? { token } : {}) });
    t.teardown(async () => {
      await app.close();
      await store.close();
    });
    return { store, app, k };
  }

  parent.test('create, list, inspect, remove', async (t) => {
    const { app } = await setup(t);
    const r = await app.inject({ method: 'POST', url: '/v1/networks', payload: { name: 'net1', labels: { team: 'a' } } });
    t.equal(r.statusCode, 201);
    const net = r.json();
    t.match(net, { name: 'net1', driver: 'overlay', subnet: '10.128.0.0/16', hostSubnetLength: 24, vni: 4096, mtu: null, internal: false, labels: { team: 'a' } });
    t.match(net.id, /^[0-9a-f]{64}$/);

    const dup = await app.inject({ method: 'POST', url: '/v1/networks', payload: { name: 'net1' } });
    t.equal(dup.statusCode, 409);
    t.equal(dup.json().code, 'VXNET_NETWORK_NAME_TAKEN');

    const ls = await app.inject({ url: '/v1/networks' });
    t.same(ls.json().networks.map((n: { name: string }) => n.name), ['net1']);

    for (const ref of ['net1', net.id, net.id.slice(0, 12)]) {
      const ins = await app.inject({ url: `/v1/networks/${ref}` });
      t.equal(ins.statusCode, 200, `inspect by ${ref}`);
      t.equal(ins.json().network.id, net.id);
    }
    const missing = await app.inject({ url: '/v1/networks/nope' });
    t.equal(missing.statusCode, 404);
    t.same(missing.json(), { code: 'VXNET_NETWORK_NOT_FOUND', message: 'network "nope" not found' });

    const rm = await app.inject({ method: 'DELETE', url: '/v1/networks/net1' });
    t.equal(rm.statusCode, 200);
    t.equal(rm.json().removed.name, 'net1');
    // name, VNI and block are free again (automatic ones go on from the cursors: a freed
    // block comes round again when they wrap, see network-service.ts)
    const again = await app.inject({ method: 'POST', url: '/v1/networks', payload: { name: 'net1', subnet: '10.128.0.0/16', vni: 4096 } });
    t.match(again.json(), { name: 'net1', subnet: '10.128.0.0/16', vni: 4096 });
  });

  parent.test('bad requests: 400 with a code and a message, nothing stored', async (t) => {
    const { app, store, k } = await setup(t);
    const cases: Array<[object, number, RegExp]> = [
      [{ name: 'n', subnet: '10.0.0.0/33' }, 400, /prefix length 33/],
      [{ name: 'n', vni: 'x' }, 400, /invalid request: body\/vni must be integer/],
      [{ name: 'n', bogus: 1 }, 400, /must NOT have additional properties/],
      [{}, 400, /must have required property 'name'/],
      [{ name: 'n', driver: 'macvlan' }, 400, /unsupported driver "macvlan"/],
      [{ name: 'n', subnet: '192.0.2.0/24', hostSubnetLength: 28 }, 409, /overlaps 192\.0\.2\.0\/24 \(the underlay\)/],
    ];
    for (const [payload, status, re] of cases) {
      const r = await app.inject({ method: 'POST', url: '/v1/networks', payload });
      t.equal(r.statusCode, status, JSON.stringify(payload));
      t.match(r.json().message, re);
      t.type(r.json().code, 'string');
    }
    t.same((await store.list(k.prefix)).items, [], 'nothing was written');
  });

  parent.test('reserved ranges: 409 naming the range, nothing stored', async (t) => {
    const { app, store, k } = await setup(t);
    const cases: Array<[string, string]> = [['127.1.0.0/16', '127.0.0.0/8 (loopback, reserved)'], ['239.255.0.0/16', '224.0.0.0/4 (multicast, reserved)'], ['169.254.0.0/16', '169.254.0.0/16 (link-local, reserved)']];
    for (const [subnet, what] of cases) {
      const r = await app.inject({ method: 'POST', url: '/v1/networks', payload: { name: 'n1', subnet } });
      t.equal(r.statusCode, 409, subnet);
      t.same(r.json(), { code: 'VXNET_SUBNET_OVERLAP', message: `could not create network "n1": subnet ${subnet} overlaps ${what}` });
    }
    t.same((await store.list(k.prefix)).items, [], 'nothing was written');
  });

  parent.test('routes of live hosts: an overlapping subnet is refused naming host and route; dead hosts do not count; the pool skips them', async (t) => {
    const { app, store, k } = await setup(t);
    const now = new Date().toISOString();
    const host = (name: string, routes: string[]): HostRecord => ({ name, underlayIp: '192.0.2.1', underlayInterface: 'eth0', agentVersion: '0.1.0', networks: [], routes, registeredAt: now, lastSeen: now });
    await store.put(k.host('h1'), JSON.stringify(host('h1', ['192.0.2.0/24'])));
    await store.put(k.host('h2'), JSON.stringify(host('h2', ['10.99.1.0/24', '10.128.0.0/16', 'not-a-cidr'])));
    await store.put(k.host('h3'), JSON.stringify(host('h3', ['10.50.0.0/16'])));
    const old: Partial<HostRecord> = host('h4', []);
    delete old.routes;
    await store.put(k.host('h4'), JSON.stringify(old)); // an agent from before routes were reported
    for (const h of ['h1', 'h2', 'h4']) await store.put(k.hostAlive(h), JSON.stringify({ name: h, underlayIp: '192.0.2.1', since: now }));

    const refused = await app.inject({ method: 'POST', url: '/v1/networks', payload: { name: 'n1', subnet: '10.99.0.0/16' } });
    t.equal(refused.statusCode, 409);
    t.same(refused.json(), { code: 'VXNET_SUBNET_OVERLAP', message: 'could not create network "n1": subnet 10.99.0.0/16 overlaps route 10.99.1.0/24 on host h2' });
    t.equal((await store.list(k.networks)).items.length, 0, 'nothing created');

    const onDead = await app.inject({ method: 'POST', url: '/v1/networks', payload: { name: 'n2', subnet: '10.50.0.0/16' } });
    t.equal(onDead.statusCode, 201, 'h3 is not alive: its routes do not count');
    const pooled = await app.inject({ method: 'POST', url: '/v1/networks', payload: { name: 'n3' } });
    t.equal(pooled.json().subnet, '10.129.0.0/16', '10.128.0.0/16 is a route of h2');

    await store.delete(k.hostAlive('h2'));
    const afterDeath = await app.inject({ method: 'POST', url: '/v1/networks', payload: { name: 'n1', subnet: '10.99.0.0/16' } });
    t.equal(afterDeath.statusCode, 201, 'h2 died: its routes no longer count');
    t.same((await app.inject({ url: '/v1/hosts' })).json().hosts.map((h: { name: string; routes: string[] }) => [h.name, h.routes]), [
      ['h1', ['192.0.2.0/24']], ['h2', ['10.99.1.0/24', '10.128.0.0/16', 'not-a-cidr']], ['h3', ['10.50.0.0/16']], ['h4', []],
    ]);
  });

  parent.test('network with endpoints: rm refused (listing them) unless force; leases and endpoints go with it', async (t) => {
    const { app, store, k } = await setup(t);
    const net = (await app.inject({ method: 'POST', url: '/v1/networks', payload: { name: 'web', subnet: '10.50.0.0/16' } })).json();
    const now = new Date();
    const lease: SubnetLease = { networkId: net.id, subnet: '10.50.3.0/24', host: 'h1', underlayIp: '192.0.2.1', vtepMac: '02:00:00:00:00:01', acquiredAt: now.toISOString(), renewedAt: now.toISOString(), expiresAt: new Date(now.getTime() + 3600_000).toISOString() };
    await store.put(k.lease(net.id, lease.subnet), JSON.stringify(lease));
    const ep: EndpointRecord = { id: 'ep1', networkId: net.id, name: 'c1', aliases: [], ip: '10.50.3.2', mac: '02:42:0a:32:03:02', host: 'h1', container: 'c1id', createdAt: now.toISOString() };
    await store.put(k.endpoint(net.id, 'ep1'), JSON.stringify(ep));
    const host: HostRecord = { name: 'h1', underlayIp: '192.0.2.1', underlayInterface: 'eth0', agentVersion: '0.1.0', networks: [net.id], routes: ['192.0.2.0/24'], registeredAt: now.toISOString(), lastSeen: now.toISOString() };
    await store.put(k.host('h1'), JSON.stringify(host));
    await store.put(k.hostAlive('h1'), JSON.stringify({ name: 'h1', underlayIp: '192.0.2.1', since: now.toISOString() }));

    const ins = (await app.inject({ url: '/v1/networks/web' })).json();
    t.match(ins.hosts, [{ host: 'h1', subnet: '10.50.3.0/24', gateway: '10.50.3.1', alive: true, endpoints: [{ name: 'c1', ip: '10.50.3.2' }] }]);

    const hosts = (await app.inject({ url: '/v1/hosts' })).json().hosts;
    t.match(hosts, [{ name: 'h1', state: 'alive', networks: ['web'], routes: ['192.0.2.0/24'], agentVersion: '0.1.0' }]);
    const leases = (await app.inject({ url: '/v1/leases?network=web' })).json().leases;
    t.match(leases, [{ network: 'web', subnet: '10.50.3.0/24', host: 'h1', hostAlive: true }]);
    t.ok(leases[0].remainingSeconds > 3500 && leases[0].remainingSeconds <= 3600);
    t.same((await app.inject({ url: '/v1/leases?host=h2' })).json().leases, []);
    const one = await app.inject({ url: '/v1/leases/web/10.50.3.0_24' });
    t.match(one.json(), { key: k.lease(net.id, '10.50.3.0/24'), subnet: '10.50.3.0/24', storeLeaseId: null });
    t.equal((await app.inject({ url: '/v1/leases/web/10.50.9.0_24' })).statusCode, 404);

    const refused = await app.inject({ method: 'DELETE', url: '/v1/networks/web' });
    t.equal(refused.statusCode, 409);
    t.match(refused.json().message, /could not remove network "web": it has 1 endpoint\(s\): c1 \(10\.50\.3\.2 on h1\)/);
    t.ok(await store.get(k.network(net.id)), 'still there');

    t.equal((await app.inject({ method: 'DELETE', url: '/v1/networks/web?force=true' })).statusCode, 200);
    t.same((await store.list(k.leases)).items, []);
    t.same((await store.list(k.endpoints)).items, []);
    t.equal(await store.get(k.network(net.id)), undefined);
    t.match((await app.inject({ url: '/v1/hosts' })).json().hosts, [{ name: 'h1', networks: [] }], 'host stays, the removed network drops out of its list');
  });

  parent.test('bearer token: everything without it is 401 and reveals nothing', async (t) => {
    const { app } = await setup(t, 's3cret');
    for (const url of ['/v1/networks', '/v1/networks/x', '/openapi.json', '/nope']) {
      const r = await app.inject({ url });
      t.equal(r.statusCode, 401, url);
      t.same(r.json(), { code: 'VXNET_UNAUTHORIZED', message: 'authentication required' });
    }
    t.equal((await app.inject({ url: '/v1/networks', headers: { authorization: 'Bearer wrong!' } })).statusCode, 401);
    t.equal((await app.inject({ url: '/v1/networks', headers: { authorization: 'Bearer s3cret' } })).statusCode, 200);
  });

  parent.test('OpenAPI document lists the routes', async (t) => {
    const { app } = await setup(t);
    const doc = (await app.inject({ url: '/openapi.json' })).json();
    t.equal(doc.openapi.slice(0, 2), '3.');
    t.ok(doc.paths['/v1/networks'].post && doc.paths['/v1/networks/{ref}'].delete && doc.paths['/v1/leases'].get && doc.paths['/v1/hosts'].get);
  });
}

t.test('on the memory store', async (t) => {
  suite(t, () => new MemoryStore());
});

t.test('on etcd', async (t) => {
  const missing = etcdMissing();
  if (missing) return t.plan(0, `skip: ${missing}`);
  const etcd = await startTestEtcd('vxnet-controller-test');
  t.teardown(() => etcd.destroy());
  suite(t, () => new EtcdStore({ endpoints: [etcd.endpoint] }));
});
