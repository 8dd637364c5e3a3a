/**
 * A create whose writes have an unknown outcome (an etcd leader dying between commit
 * and answer): the real NetworkService on a MemoryStore whose claim creates or record
 * put land and then throw StoreUnavailable, or land and are retried by the client so
 * the answer is a create lost against our own claim. The create must finish or fail
 * whole: never a claim without its record, never a record without its claim.
 */
import t from 'tap';
import { MemoryStore, StoreUnavailable, keys, silentLogger, type CreateResult, type WriteOptions } from '@vxnet/common';
import { NetworkService } from '../src/network/network-service.js';

const pool = { defaultPool: '10.128.0.0/9', defaultBlockLength: 16, excluded: [] };
const k = keys('/t/');

type Fault = 'create-lands-then-throws' | 'create-lands-then-loses-to-itself' | 'create-throws-without-landing' | 'put-lands-then-throws' | 'put-throws-and-store-stays-down';

/** A MemoryStore that injects `fault` once, on the first write of its kind (every claim kind in turn for creates). */
class FaultyStore extends MemoryStore {
  down = false;
  private readonly pending: Set<string>;
  constructor(private fault: Fault | undefined) {
    super();
    this.pending = new Set(fault?.startsWith('create-') ? [k.networkNames, k.vnis, k.subnetClaims] : []);
  }

  override async get(key: string) {
    if (this.down) throw new StoreUnavailable('memory', 'down');
    return super.get(key);
  }

  override async create(key: string, value: string, options?: WriteOptions): Promise<CreateResult> {
    const kind = [...this.pending].find((p) => key.startsWith(p));
    if (kind === undefined) return super.create(key, value, options);
    this.pending.delete(kind);
    if (this.fault === 'create-throws-without-landing') throw new StoreUnavailable('memory', 'no answer');
    const res = await super.create(key, value, options);
    if (this.fault === 'create-lands-then-throws') throw new StoreUnavailable('memory', 'the leader died after committing');
    // the client's retry of the same create: it loses against what the first try wrote
    return res.created ? super.create(key, value, options) : res;
  }

  override async put(key: string, value: string, options?: WriteOptions): Promise<number> {
    const f = this.fault;
    if (key.startsWith(k.networks) && f?.startsWith('put-')) {
      this.fault = undefined;
      if (f === 'put-lands-then-throws') {
        await super.put(key, value, options);
        throw new StoreUnavailable('memory', 'the leader died after committing');
      }
      this.down = true;
      throw new StoreUnavailable('memory', 'no answer');
    }
    return super.put(key, value, options);
  }
}

async function view(store: MemoryStore) {
  const ids = async (prefix: string) => (await store.list(prefix)).items.map((kv) => (JSON.parse(kv.value) as { id: string }).id);
  const claims = [...(await ids(k.networkNames)), ...(await ids(k.vnis)), ...(await ids(k.subnetClaims))];
  const records = (await store.list(k.networks)).items.map((r) => JSON.parse(r.value).id as string);
  return { claims: claims.sort(), records: records.sort() };
}

for (const fault of ['create-lands-then-throws', 'create-lands-then-loses-to-itself', 'create-throws-without-landing', 'put-lands-then-throws'] as const) {
  t.test(`${fault}: the create completes, once`, async (t) => {
    const store = new FaultyStore(fault);
    const svc = new NetworkService(store, k, pool, silentLogger());
    const net = await svc.create({ name: 'n1' });
    const v = await view(store);
    t.same(v.claims, [net.id, net.id, net.id], 'one claim of each kind (name, VNI, CIDR), ours');
    t.same(v.records, [net.id], 'and its record');
    t.equal((await svc.resolve('n1')).subnet, net.subnet);
    const next = await svc.create({ name: 'n2' });
    t.not(next.subnet, net.subnet, 'the next create gets another subnet');
  });
}

t.test('put-throws-and-store-stays-down: the create fails, and no record appears without its claim', async (t) => {
  const store = new FaultyStore('put-throws-and-store-stays-down');
  const svc = new NetworkService(store, k, pool, silentLogger());
  await t.rejects(svc.create({ name: 'n1' }), { code: 'VXNET_STORE_UNAVAILABLE' });
  store.down = false;
  const v = await view(store);
  t.same(v.records, [], 'no network record');
  t.equal(v.claims.length, 3, 'the claims stay (the outcome was unknown), to be reclaimed once stale');
  await t.rejects(svc.resolve('n1'), { code: 'VXNET_NETWORK_NOT_FOUND' }, 'n1 does not exist for users');
});
