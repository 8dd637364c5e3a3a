/**
 * Two or three controller instances (apps, each with its own store client) on one real
 * store, racing, once on etcd and once on Redis. Names, VNIs and CIDRs are claimed
 * by create-if-absent of one key each (plus create-then-look for overlapping CIDRs), so
 * whatever the interleaving: one winner per name, distinct VNIs, no overlapping
 * subnets. Also on the real stores: the claim keys themselves, paging, and the
 * migration of the old allocations document by two controllers at once.
 */
import t, { type Test } from 'tap';
import { randomBytes } from 'node:crypto';
import { keys, parseCidr, cidrSize, silentLogger, subnetBits, type Allocations, type NetworkSpec } from '@vxnet/common';
import { STORE_KINDS, startTestStore, storeMissing, type TestStore } from '@vxnet/common/testing';
import { build } from '../src/app.js';
import { migrateAllocations } from '../src/network/migrate-allocations.js';

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
  async function twoControllers(t: Test, n = 2, k = keys(`/race-${randomBytes(4).toString('hex')}/`)) {
    const stores = await Promise.all(Array.from({ length: n }, () => server.open()));
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

  t.test('60 creates from 3 controllers: distinct VNIs, disjoint subnets, one claim key of each kind per network', async (t) => {
    const k = keys(`/race-${randomBytes(4).toString('hex')}/`);
    const apps = await twoControllers(t, 3, k);
    const results = await Promise.all(Array.from({ length: 60 }, (_, i) =>
      apps[i % 3]!.inject({ method: 'POST', url: '/v1/networks', payload: { name: `m${i}`, ...(i % 10 === 0 ? { subnet: `172.${16 + i / 10}.0.0/16` } : {}) } })));
    t.same(results.filter((r) => r.statusCode !== 201).map((r) => r.json()), [], 'all created');
    const nets = results.filter((r) => r.statusCode === 201).map((r) => r.json() as NetworkSpec);
    t.equal(new Set(nets.map((n) => n.vni)).size, 60, 'VNIs are distinct');
    t.equal(new Set(nets.map((n) => n.subnet)).size, 60, 'subnets are distinct (all /16s: distinct means disjoint)');
    const store = await server.open();
    t.teardown(() => store.close());
    for (const n of nets.slice(0, 5)) {
      const c = parseCidr(n.subnet);
      const [name, vni, subnet] = await Promise.all([store.get(k.networkName(n.name)), store.get(k.vni(n.vni)), store.get(`${k.subnetClaims}${subnetBits(c.network, c.prefixLength)}`)]);
      t.same([name, vni, subnet].map((kv) => kv && JSON.parse(kv.value).id), [n.id, n.id, n.id], `${n.name}: name, VNI and subnet keys hold its id`);
      t.equal(subnet && JSON.parse(subnet.value).subnet, n.subnet);
    }
    t.equal((await store.list(k.subnetClaims)).items.length, 60, 'one subnet claim per network');
  });

  t.test('pages on the real store: by name, next until the end, every network once', async (t) => {
    const apps = await twoControllers(t);
    for (let i = 0; i < 7; i++) await apps[0]!.inject({ method: 'POST', url: '/v1/networks', payload: { name: `p${i}` } });
    const seen: string[] = [];
    let after: string | undefined;
    let pages = 0;
    do {
      const r = await apps[pages % 2]!.inject({ url: `/v1/networks?limit=3${after ? `&after=${after}` : ''}` });
      t.equal(r.statusCode, 200);
      const body = r.json() as { networks: NetworkSpec[]; next?: string };
      seen.push(...body.networks.map((n) => n.name));
      after = body.next;
      pages++;
    } while (after !== undefined);
    t.equal(pages, 3, '7 networks in pages of 3');
    t.same(seen, Array.from({ length: 7 }, (_, i) => `p${i}`));
    const bad = await apps[0]!.inject({ url: '/v1/networks?limit=0' });
    t.equal(bad.statusCode, 400, 'limit 0 is refused');
  });

  t.test('the old allocations document: two controllers migrate it at once, then create around it', async (t) => {
    const k = keys(`/race-${randomBytes(4).toString('hex')}/`);
    const store = await server.open();
    t.teardown(() => store.close());
    const old = Array.from({ length: 20 }, (_, i) => ({ id: `${i}`.padStart(64, 'a'), name: `old${i}`, vni: 4096 + i, subnet: `10.${128 + i}.0.0/16` }));
    for (const n of old) {
      const spec: NetworkSpec = { ...n, driver: 'overlay', hostSubnetLength: 24, mtu: null, internal: false, labels: {}, options: {}, createdAt: '2026-01-01T00:00:00.000Z' };
      await store.put(k.network(n.id), JSON.stringify(spec));
    }
    const doc: Allocations = { networks: old.map((n) => ({ ...n, claimedAt: '2026-01-01T00:00:00.000Z' })) };
    await store.put(k.allocations, JSON.stringify(doc));
    const migrators = [await server.open(), await server.open()];
    t.teardown(async () => {
      for (const m of migrators) await m.close();
    });
    const counts = await Promise.all(migrators.map((m) => migrateAllocations(m, k, silentLogger())));
    t.ok(counts.includes(20), `one migrator did all 20 (${counts.join(', ')})`);
    t.equal(await store.get(k.allocations), undefined, 'the document is gone');
    t.equal((await store.list(k.networkNames)).items.length, 20, '20 name claims');
    t.equal((await store.list(k.vnis)).items.length, 20, '20 VNI claims');
    t.equal((await store.list(k.subnetClaims)).items.length, 20, '20 subnet claims');
    const apps = await twoControllers(t, 2, k);
    const results = await Promise.all(Array.from({ length: 10 }, (_, i) =>
      apps[i % 2]!.inject({ method: 'POST', url: '/v1/networks', payload: { name: `new${i}` } })));
    t.same(results.map((r) => r.statusCode), Array(10).fill(201));
    const made = results.map((r) => r.json() as NetworkSpec);
    t.ok(made.every((n) => n.vni >= 4116), 'no migrated VNI handed out again');
    t.ok(made.every((n) => Number(n.subnet.split('.')[1]) >= 148), 'no migrated block handed out again');
    const dup = await apps[0]!.inject({ method: 'POST', url: '/v1/networks', payload: { name: 'old3' } });
    t.equal(dup.json().code, 'VXNET_NETWORK_NAME_TAKEN', 'migrated names are taken');
  });
}
