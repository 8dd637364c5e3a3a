/**
 * The create policy on a MemoryStore with a manual clock: claims per name, VNI and CIDR,
 * the cursors, release on failure and on remove, stale claims, races between two
 * controllers (two services on one store), paging. The same races on etcd and Redis
 * are in races.ts.
 */
import t from 'tap';
import {
  ManualClock, MemoryStore, cidrSize, keys, parseCidr, silentLogger, subnetBits,
  type CreateResult, type ListOptions, type ListResult, type NetworkSpec, type WriteOptions,
} from '@vxnet/common';
import { NetworkService } from '../src/network/network-service.js';
import type { PoolConfig } from '../src/network/allocate.js';

const pool: PoolConfig = { defaultPool: '10.128.0.0/9', defaultBlockLength: 16, excluded: [{ cidr: '192.0.2.0/24', reason: 'the underlay' }] };
const k = keys('/t/');
const T0 = Date.parse('2026-01-01T00:00:00Z');

function fixture(p: PoolConfig = pool) {
  const clock = new ManualClock(T0);
  const store = new MemoryStore({ clock });
  const svc = () => new NetworkService(store, k, p, silentLogger(), () => clock.now());
  return { clock, store, svc: svc(), other: svc() };
}

/** Every claim key's network id, by kind. */
async function claims(store: MemoryStore) {
  const ids = async (prefix: string) => (await store.list(prefix)).items.map((kv) => (JSON.parse(kv.value) as { id: string }).id).sort();
  return { names: await ids(k.networkNames), vnis: await ids(k.vnis), subnets: await ids(k.subnetClaims) };
}

function overlaps(nets: Array<{ subnet: string }>): number {
  const r = nets.map((n) => {
    const c = parseCidr(n.subnet);
    return [c.network, c.network + cidrSize(c.prefixLength) - 1] as const;
  });
  let n = 0;
  for (let i = 0; i < r.length; i++) for (let j = i + 1; j < r.length; j++) if (r[i]![0] <= r[j]![1] && r[j]![0] <= r[i]![1]) n++;
  return n;
}

t.test('defaults: pool blocks from the bottom and VNIs from 4096, each from its cursor; explicit ones are stepped around', async (t) => {
  const { svc, store } = fixture();
  const a = await svc.create({ name: 'a' });
  t.same([a.subnet, a.vni], ['10.128.0.0/16', 4096]);
  const u = await svc.create({ name: 'u', subnet: '10.129.4.0/24', vni: 4097, hostSubnetLength: 26 });
  t.same([u.subnet, u.vni], ['10.129.4.0/24', 4097]);
  const b = await svc.create({ name: 'b' });
  t.same([b.subnet, b.vni], ['10.130.0.0/16', 4098], 'the block holding u and u\'s VNI are skipped');
  t.equal((await store.get(k.subnetCursor))?.value, '3', 'the subnet cursor points after the last block handed out');
  t.equal((await store.get(k.vniCursor))?.value, '4099');
  t.equal((await store.get(k.subnetClaim(parseCidr('10.128.0.0/16').network, 16)))?.key, `/t/subnets/${subnetBits(parseCidr('10.128.0.0/16').network, 16)}`);
  const c = await claims(store);
  t.same(c.names, [a.id, b.id, u.id].sort(), 'one name claim per network');
  t.same(c.vnis, c.names, 'one VNI claim per network');
  t.same(c.subnets, c.names, 'one subnet claim per network');
});

t.test('a create that conflicts says with what, and leaves no claim behind', async (t) => {
  const { svc, store } = fixture();
  const net0 = await svc.create({ name: 'net0', subnet: '10.20.0.0/16', vni: 100 });
  await t.rejects(svc.create({ name: 'n', subnet: '10.20.128.0/17' }), { code: 'VXNET_SUBNET_OVERLAP', message: 'could not create network "n": subnet 10.20.128.0/17 overlaps network "net0" (10.20.0.0/16)' }, 'inside another');
  await t.rejects(svc.create({ name: 'n', subnet: '10.0.0.0/8' }), { code: 'VXNET_SUBNET_OVERLAP', message: /subnet 10\.0\.0\.0\/8 overlaps network "net0" \(10\.20\.0\.0\/16\)/ }, 'around another');
  await t.rejects(svc.create({ name: 'n', vni: 100 }), { code: 'VXNET_VNI_IN_USE', message: /VNI 100 is in use by network "net0"/ });
  await t.rejects(svc.create({ name: 'net0' }), { code: 'VXNET_NETWORK_NAME_TAKEN', message: `could not create network "net0": the name is taken by network ${net0.id.slice(0, 12)}` });
  await t.rejects(svc.create({ name: 'n', subnet: '192.0.0.0/16' }), /overlaps 192\.0\.2\.0\/24 \(the underlay\)/);
  t.same(await claims(store), { names: [net0.id], vnis: [net0.id], subnets: [net0.id] }, 'only net0 holds anything');
  const n = await svc.create({ name: 'n', subnet: '10.21.0.0/16', vni: 101 });
  t.equal(n.name, 'n', 'the name the failed creates tried is free');
});

t.test('remove releases name, VNI and subnet; a full pool hands out a freed block again', async (t) => {
  const { svc, store } = fixture({ defaultPool: '10.0.0.0/15', defaultBlockLength: 16, excluded: [] });
  const a = await svc.create({ name: 'a' });
  const b = await svc.create({ name: 'b' });
  t.same([a.subnet, b.subnet], ['10.0.0.0/16', '10.1.0.0/16']);
  await t.rejects(svc.create({ name: 'c' }), { code: 'VXNET_POOL_EXHAUSTED', message: /the default pool 10\.0\.0\.0\/15 has no free \/16 left/ });
  await svc.remove('a', false);
  t.same(await claims(store), { names: [b.id], vnis: [b.id], subnets: [b.id] }, "a's claims are gone");
  const c = await svc.create({ name: 'c' });
  t.equal(c.subnet, '10.0.0.0/16', 'the cursor wrapped around to the freed block');
  const a2 = await svc.create({ name: 'a', vni: a.vni, subnet: '172.20.0.0/16' });
  t.equal(a2.vni, a.vni, "a's name and VNI can be taken again");
});

t.test('claims of a create that crashed half-way are reclaimed after 30 s, not before', async (t) => {
  const { svc, store, clock } = fixture();
  const dead = { id: 'dead'.padEnd(64, '0'), name: 'x', claimedAt: new Date(T0).toISOString() };
  const block = parseCidr('10.128.0.0/16');
  await store.put(k.networkName('x'), JSON.stringify(dead));
  await store.put(k.vni(4096), JSON.stringify(dead));
  await store.put(k.subnetClaim(block.network, 16), JSON.stringify({ ...dead, subnet: block.text }));
  clock.advance(10_000);
  await t.rejects(svc.create({ name: 'x' }), { code: 'VXNET_NETWORK_NAME_TAKEN' }, 'a 10 s old claim may be a create in progress');
  const y = await svc.create({ name: 'y' });
  t.same([y.subnet, y.vni], ['10.129.0.0/16', 4097], 'its VNI and block are stepped over');
  clock.advance(21_000);
  const x = await svc.create({ name: 'x', vni: 4096, subnet: '10.128.0.0/16' });
  t.same([x.name, x.vni, x.subnet], ['x', 4096, '10.128.0.0/16'], 'after 30 s its name, VNI and CIDR are reclaimed');
  t.same((await claims(store)).names, [x.id, y.id].sort());
});

t.test('a claim whose network record exists is never reclaimed, however old', async (t) => {
  const { svc, clock } = fixture();
  await svc.create({ name: 'old', vni: 5000, subnet: '172.20.0.0/16' });
  clock.advance(3_600_000);
  await t.rejects(svc.create({ name: 'old' }), { code: 'VXNET_NETWORK_NAME_TAKEN' });
  await t.rejects(svc.create({ name: 'n', vni: 5000 }), { code: 'VXNET_VNI_IN_USE' });
  await t.rejects(svc.create({ name: 'n', subnet: '172.20.1.0/24', hostSubnetLength: 26 }), { code: 'VXNET_SUBNET_OVERLAP' });
});

t.test('two controllers, 40 concurrent creates: one winner per name, distinct VNIs, no overlapping subnets', async (t) => {
  const { svc, other, store } = fixture();
  const ctl = [svc, other];
  const reqs = Array.from({ length: 40 }, (_, i) => ({
    name: `n${i % 30}`, // 10 names asked twice
    ...(i % 7 === 0 ? { subnet: i % 2 ? '10.200.0.0/16' : '10.200.128.0/17' } : {}),
  }));
  const results = await Promise.allSettled(reqs.map((r, i) => ctl[i % 2]!.create(r)));
  const made = results.filter((r): r is PromiseFulfilledResult<NetworkSpec> => r.status === 'fulfilled').map((r) => r.value);
  const names = made.map((n) => n.name);
  t.equal(new Set(names).size, names.length, 'no name twice');
  t.equal(new Set(made.map((n) => n.vni)).size, made.length, 'distinct VNIs');
  t.equal(overlaps(made), 0, 'no two subnets overlap');
  t.equal(made.filter((n) => n.subnet.startsWith('10.200.')).length, 1, 'one of the overlapping explicit subnets won');
  const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => (r.reason as { code: string }).code);
  t.ok(failed.every((c) => c === 'VXNET_NETWORK_NAME_TAKEN' || c === 'VXNET_SUBNET_OVERLAP'), `only conflicts: ${failed.join(', ')}`);
  t.same(await claims(store), { names: made.map((n) => n.id).sort(), vnis: made.map((n) => n.id).sort(), subnets: made.map((n) => n.id).sort() }, 'claims are exactly those of the networks made');
});

/** A MemoryStore that holds every subnet look (the list of the claims inside a CIDR) until `n` subnet claims were created. */
class LookAfterCreates extends MemoryStore {
  private created = 0;
  private readonly waiting: Array<() => void> = [];
  constructor(private readonly n: number, private readonly order: string[]) {
    super();
  }

  override async create(key: string, value: string, options?: WriteOptions): Promise<CreateResult> {
    const res = await super.create(key, value, options);
    if (key.startsWith(k.subnetClaims) && res.created) {
      this.order.push(JSON.parse(value).name);
      if (++this.created === this.n) for (const go of this.waiting.splice(0)) go();
    }
    return res;
  }

  override async list(prefix: string, options?: ListOptions): Promise<ListResult> {
    if (prefix.startsWith(k.subnetClaims) && prefix !== k.subnetClaims && this.created < this.n) await new Promise<void>((r) => this.waiting.push(r));
    return super.list(prefix, options);
  }
}

for (const first of ['big', 'small'] as const) {
  t.test(`overlapping claims both made before either looks: the earlier (${first}) wins, the later gives way`, async (t) => {
    const order: string[] = [];
    const store = new LookAfterCreates(2, order);
    const svc = () => new NetworkService(store, k, pool, silentLogger());
    const reqs = { big: { name: 'big', subnet: '10.200.0.0/16' }, small: { name: 'small', subnet: '10.200.128.0/17' } };
    const second = first === 'big' ? 'small' : 'big';
    const results = await Promise.allSettled([svc().create(reqs[first]), svc().create(reqs[second])]);
    t.same(order, [first, second], 'both claims were created, in this order');
    t.equal(results[0].status, 'fulfilled', `${first} is created`);
    t.match(results[1], { status: 'rejected', reason: { code: 'VXNET_SUBNET_OVERLAP', message: new RegExp(`overlaps network "${first}"`) } }, `${second} gives way`);
    t.equal((await store.list(k.subnetClaims)).items.length, 1, "the loser's claim is released");
  });
}

t.test('pages: by name, limit and next; a name whose record is not written yet is left out', async (t) => {
  const { svc, store } = fixture();
  for (const name of ['d', 'b', 'e', 'a', 'c']) await svc.create({ name });
  await store.put(k.networkName('bb'), JSON.stringify({ id: 'f'.repeat(64), name: 'bb', claimedAt: new Date(T0).toISOString() }));
  const p1 = await svc.page(2);
  t.same(p1.networks.map((n) => n.name), ['a', 'b']);
  t.equal(p1.next, 'b');
  const p2 = await svc.page(2, p1.next);
  t.same(p2.networks.map((n) => n.name), ['c'], 'bb (no record) is left out of its page');
  t.equal(p2.next, 'c');
  const p3 = await svc.page(2, p2.next);
  t.same(p3.networks.map((n) => n.name), ['d', 'e']);
  t.equal(p3.next, undefined, 'the last page has no next');
  t.same((await svc.list()).map((n) => n.name), ['a', 'b', 'c', 'd', 'e'], 'the whole list, same order');
  const c = JSON.parse((await store.get(k.networkName('c')))!.value);
  t.equal(c.network?.name, 'c', 'a name claim carries its network once created');
  await store.put(k.networkName('c'), JSON.stringify({ id: c.id, name: 'c', claimedAt: c.claimedAt }));
  t.same((await svc.page(2, 'b')).networks.map((n) => n.name), ['c'], 'a claim without the copy: its record is read instead');
});

t.test('resolve: by name, full id, unique id prefix; an ambiguous prefix names the candidates', async (t) => {
  const { svc } = fixture();
  const a = await svc.create({ name: 'a' });
  t.equal((await svc.resolve('a')).id, a.id);
  t.equal((await svc.resolve(a.id)).name, 'a');
  t.equal((await svc.resolve(a.id.slice(0, 6))).name, 'a');
  await t.rejects(svc.resolve('nope'), { code: 'VXNET_NETWORK_NOT_FOUND' });
  let b = await svc.create({ name: 'b' });
  // ids are random: make a second one sharing a's first hex digit
  for (let i = 0; b.id[0] !== a.id[0] && i < 64; i++) {
    await svc.remove('b', false);
    b = await svc.create({ name: 'b' });
  }
  await t.rejects(svc.resolve(a.id[0]!), { code: 'VXNET_NETWORK_AMBIGUOUS', message: /matches several networks: (a, b|b, a)/ });
});
