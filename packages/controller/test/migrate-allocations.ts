/**
 * Migration of the pre-1.x allocations document to claim keys, on a MemoryStore: what
 * is migrated, what is not, twice and concurrently, and an unreadable document.
 * races.ts runs a migration on etcd and Redis.
 */
import t from 'tap';
import { MemoryStore, keys, parseCidr, silentLogger, type Allocations, type NetworkSpec } from '@vxnet/common';
import { migrateAllocations } from '../src/network/migrate-allocations.js';
import { NetworkService } from '../src/network/network-service.js';

const pool = { defaultPool: '10.128.0.0/9', defaultBlockLength: 16, excluded: [] };
const k = keys('/t/');
const at = '2026-01-01T00:00:00.000Z';

/** An old cluster: networks a, b (records and entries), and an entry whose create never wrote its record. */
async function oldCluster(): Promise<MemoryStore> {
  const store = new MemoryStore();
  const nets = [
    { id: 'a'.repeat(64), name: 'a', vni: 4096, subnet: '10.128.0.0/16' },
    { id: 'b'.repeat(64), name: 'b', vni: 42, subnet: '172.20.0.0/24' },
  ];
  for (const n of nets) {
    const spec: NetworkSpec = { ...n, driver: 'overlay', hostSubnetLength: 26, mtu: null, internal: false, labels: {}, options: {}, createdAt: at };
    await store.put(k.network(n.id), JSON.stringify(spec));
  }
  const doc: Allocations = { networks: [...nets, { id: 'c'.repeat(64), name: 'c', vni: 4097, subnet: '10.129.0.0/16' }].map((n) => ({ ...n, claimedAt: at })) };
  await store.put(k.allocations, JSON.stringify(doc));
  return store;
}

async function claimIds(store: MemoryStore) {
  const ids = async (prefix: string) => (await store.list(prefix)).items.map((kv) => `${kv.key.slice(prefix.length)}=${(JSON.parse(kv.value) as { id: string }).id[0]}`);
  return { names: await ids(k.networkNames), vnis: await ids(k.vnis), subnets: (await store.list(k.subnetClaims)).items.map((kv) => JSON.parse(kv.value).subnet as string) };
}

t.test('entries with a record become claims; the document goes; new creates step around them', async (t) => {
  const store = await oldCluster();
  t.equal(await migrateAllocations(store, k, silentLogger()), 2, 'two networks migrated');
  t.same(await claimIds(store), { names: ['a=a', 'b=b'], vnis: ['4096=a', '42=b'], subnets: ['10.128.0.0/16', '172.20.0.0/24'] }, 'c (no record) is not migrated');
  t.equal(await store.get(k.allocations), undefined, 'the document is deleted');
  const a = parseCidr('10.128.0.0/16');
  t.equal(JSON.parse((await store.get(k.subnetClaim(a.network, 16)))!.value).id, 'a'.repeat(64));
  const svc = new NetworkService(store, k, pool, silentLogger());
  await t.rejects(svc.create({ name: 'a' }), { code: 'VXNET_NETWORK_NAME_TAKEN' });
  await t.rejects(svc.create({ name: 'x', vni: 42 }), { code: 'VXNET_VNI_IN_USE', message: /in use by network "b"/ });
  await t.rejects(svc.create({ name: 'x', subnet: '172.20.0.0/16' }), { code: 'VXNET_SUBNET_OVERLAP', message: /overlaps network "b" \(172\.20\.0\.0\/24\)/ });
  const n = await svc.create({ name: 'n' });
  t.same([n.subnet, n.vni], ['10.129.0.0/16', 4097], "the pool steps over a's block and VNI");
  t.equal((await svc.resolve('b')).subnet, '172.20.0.0/24', 'resolve finds migrated networks by name');
  t.same((await svc.page(10)).networks.map((x) => x.name), ['a', 'b', 'n'], 'and pages list them');
});

t.test('idempotent: a second run finds nothing to do; two at once migrate once', async (t) => {
  const store = await oldCluster();
  const both = await Promise.all([migrateAllocations(store, k, silentLogger()), migrateAllocations(store, k, silentLogger())]);
  t.ok(both.includes(2), `one run migrated both networks (${both.join(', ')})`);
  t.same(await claimIds(store), { names: ['a=a', 'b=b'], vnis: ['4096=a', '42=b'], subnets: ['10.128.0.0/16', '172.20.0.0/24'] }, 'the claims, once each');
  t.equal(await migrateAllocations(store, k, silentLogger()), 0, 'then nothing to do');
  t.equal(await migrateAllocations(new MemoryStore(), k, silentLogger()), 0, 'a new cluster has nothing to do');
});

for (const [what, value, why] of [
  ['not JSON', '{"networks": [', /could not migrate the allocations document \/t\/allocations: it is not JSON/],
  ['no list', '{"nets": []}', /it has no "networks" list/],
  ['a bad entry', JSON.stringify({ networks: [{ id: 'x', name: 'x', vni: 1, subnet: '10.0.0.1/8', claimedAt: at }] }), /entry 0: invalid allocated subnet "10\.0\.0\.1\/8"/],
] as const) {
  t.test(`an unreadable document (${what}) stops the start and is left as it is`, async (t) => {
    const store = new MemoryStore();
    await store.put(k.allocations, value);
    await t.rejects(migrateAllocations(store, k, silentLogger()), { code: 'VXNET_ALLOCATIONS_UNREADABLE', message: why });
    t.equal((await store.get(k.allocations))?.value, value, 'the document is untouched');
    t.same((await store.list(k.networkNames)).items, [], 'no claim made');
  });
}
