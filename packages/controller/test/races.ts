/**
 * Two controller instances (two apps, two store clients) on one real store, racing,
 * once on etcd and once on Redis. The allocations document is claimed with
 * compare-and-put, so whatever the interleaving: one winner per name, distinct VNIs,
 * no overlapping subnets.
 */
import t, { type Test } from 'tap';
import { randomBytes } from 'node:crypto';
import { keys, parseCidr, cidrSize, silentLogger } from '@vxnet/common';
import { STORE_KINDS, startTestStore, storeMissing, type TestStore } from '@vxnet/common/testing';
import { build } from '../src/app.js';

const pool = { defaultPool: '10.128.0.0/9', defaultBlockLength: 16, excluded: [{ cidr: '192.0.2.0/24', reason: 'the underlay' }] };

for (const kind of STORE_KINDS) {
  const missing = storeMissing(kind);
  t.test(`on ${kind}`, { skip: missing ?? false }, async (t) => {
    const server = await startTestStore(kind, 'vxnet-race-test');
    t.teardown(() => server.destroy());
    races(t, server);
  });
}

function races(t: Test, server: TestStore): void {
  async function twoControllers(t: Test) {
    const k = keys(`/race-${randomBytes(4).toString('hex')}/`);
    const stores = [await server.open(), await server.open()];
    const apps = await Promise.all(stores.map((store) => build({ store, keys: k, pool, logger: silentLogger() })));
    t.teardown(async () => {
      for (const a of apps) await a.close();
      for (const s of stores) await s.close();
    });
    return apps;
  }

  t.test('20 concurrent creates of one name from 2 controllers: exactly one wins', async (t) => {
    const apps = await twoControllers(t);
    for (let round = 0; round < 5; round++) {
      const name = `same-${round}`;
      const results = await Promise.all(Array.from({ length: 20 }, (_, i) =>
        apps[i % 2]!.inject({ method: 'POST', url: '/v1/networks', payload: { name } })));
      const won = results.filter((r) => r.statusCode === 201);
      const lost = results.filter((r) => r.statusCode === 409);
      t.equal(won.length, 1, `round ${round}: one winner`);
      t.equal(lost.length, 19, `round ${round}: 19 conflicts`);
      t.ok(lost.every((r) => r.json().code === 'VXNET_NETWORK_NAME_TAKEN' && r.json().message.includes(`could not create network "${name}"`)));
    }
    const nets = (await apps[0]!.inject({ url: '/v1/networks' })).json().networks;
    t.equal(nets.length, 5, 'five networks, one per name');
  });

  t.test('20 concurrent creates of different names from 2 controllers: distinct VNIs, disjoint subnets', async (t) => {
    const apps = await twoControllers(t);
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) =>
      apps[i % 2]!.inject({ method: 'POST', url: '/v1/networks', payload: { name: `n${i}`, ...(i % 5 === 0 ? { subnet: `172.${16 + i}.0.0/16` } : {}) } })));
    t.same(results.map((r) => r.statusCode), Array(20).fill(201), 'all created');
    const nets = results.map((r) => r.json() as { name: string; vni: number; subnet: string });
    t.equal(new Set(nets.map((n) => n.vni)).size, 20, 'VNIs are distinct');
    const ranges = nets.map((n) => {
      const c = parseCidr(n.subnet);
      return { name: n.name, start: c.network, end: c.network + cidrSize(c.prefixLength) - 1 };
    });
    let overlaps = 0;
    for (let i = 0; i < ranges.length; i++) {
      for (let j = i + 1; j < ranges.length; j++) {
        const a = ranges[i]!, b = ranges[j]!;
        if (a.start <= b.end && b.start <= a.end) overlaps++;
      }
    }
    t.equal(overlaps, 0, 'no two subnets overlap');
    // the pool was filled densely from the bottom: 16 automatic /16s are 10.128-10.143
    const auto = nets.filter((n) => n.subnet.startsWith('10.')).map((n) => n.subnet).sort();
    t.same(auto, Array.from({ length: 16 }, (_, i) => `10.${128 + i}.0.0/16`).sort());
  });

  t.test('10 concurrent creates asking for overlapping subnets: exactly one gets it', async (t) => {
    const apps = await twoControllers(t);
    const results = await Promise.all(Array.from({ length: 10 }, (_, i) =>
      apps[i % 2]!.inject({ method: 'POST', url: '/v1/networks', payload: { name: `o${i}`, subnet: i % 2 ? '10.200.0.0/16' : '10.200.128.0/17' } })));
    t.equal(results.filter((r) => r.statusCode === 201).length, 1);
    t.ok(results.filter((r) => r.statusCode !== 201).every((r) => r.statusCode === 409 && r.json().code === 'VXNET_SUBNET_OVERLAP'));
  });

  t.test('creates racing removes: what is removed is released, nothing leaks', async (t) => {
    const apps = await twoControllers(t);
    for (let i = 0; i < 10; i++) await apps[0]!.inject({ method: 'POST', url: '/v1/networks', payload: { name: `r${i}` } });
    const ops = await Promise.all([
      ...Array.from({ length: 10 }, (_, i) => apps[1]!.inject({ method: 'DELETE', url: `/v1/networks/r${i}` })),
      ...Array.from({ length: 10 }, (_, i) => apps[i % 2]!.inject({ method: 'POST', url: '/v1/networks', payload: { name: `s${i}` } })),
    ]);
    t.same(ops.map((r) => r.statusCode), [...Array(10).fill(200), ...Array(10).fill(201)]);
    const nets = (await apps[0]!.inject({ url: '/v1/networks' })).json().networks as Array<{ name: string; vni: number }>;
    t.same(nets.map((n) => n.name).sort(), Array.from({ length: 10 }, (_, i) => `s${i}`).sort());
    t.equal(new Set(nets.map((n) => n.vni)).size, 10);
  });
}
