/**
 * A create whose writes have an unknown outcome (an etcd leader dying between commit
 * and answer): the real NetworkService on a MemoryStore whose compare-and-put or put
 * lands and then throws StoreUnavailable, or lands and is retried by the client so the
 * answer is a failed compare against our own claim. The create must finish or fail
 * whole: never a claim without its record, never a record without its claim.
 */
import t from 'tap';
import { MemoryStore, StoreUnavailable, keys, silentLogger, type Allocations, type CompareResult, type WriteOptions } from '@vxnet/common';
import { NetworkService } from '../src/network/network-service.js';

const pool = { defaultPool: '10.128.0.0/9', defaultBlockLength: 16, excluded: [] };
const k = keys('/t/');

type Fault = 'cas-lands-then-throws' | 'cas-lands-then-compare-fails' | 'cas-throws-without-landing' | 'put-lands-then-throws' | 'put-throws-and-store-stays-down';

/** A MemoryStore that injects `fault` once, on the first write of its kind. */
class FaultyStore extends MemoryStore {
  down = false;
  constructor(private fault: Fault | undefined) {
    super();
  }

  override async get(key: string) {
    if (this.down) throw new StoreUnavailable('memory', 'down');
    return super.get(key);
  }

  override async compareAndPut(key: string, value: string, rev: number, options?: WriteOptions): Promise<CompareResult> {
    const f = this.fault;
    if (key === k.allocations && f?.startsWith('cas-')) {
      this.fault = undefined;
      if (f === 'cas-throws-without-landing') throw new StoreUnavailable('memory', 'no answer');
      const res = await super.compareAndPut(key, value, rev, options);
      if (f === 'cas-lands-then-throws') throw new StoreUnavailable('memory', 'the leader died after committing');
      // the client's retry of the same compare: it fails against what the first try wrote
      return res.ok ? super.compareAndPut(key, value, rev, options) : res;
    }
    return super.compareAndPut(key, value, rev, options);
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
  const kv = await store.get(k.allocations);
  const claims = kv ? (JSON.parse(kv.value) as Allocations).networks.map((a) => a.id) : [];
  const records = (await store.list(k.networks)).items.map((r) => JSON.parse(r.value).id as string);
  return { claims: claims.sort(), records: records.sort() };
}

for (const fault of ['cas-lands-then-throws', 'cas-lands-then-compare-fails', 'cas-throws-without-landing', 'put-lands-then-throws'] as const) {
  t.test(`${fault}: the create completes, once`, async (t) => {
    const store = new FaultyStore(fault);
    const svc = new NetworkService(store, k, pool, silentLogger());
    const net = await svc.create({ name: 'n1' });
    const v = await view(store);
    t.same(v.claims, [net.id], 'one claim, ours');
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
  t.equal(v.claims.length, 1, 'the claim stays (the outcome was unknown), to be reclaimed once stale');
  await t.rejects(svc.resolve('n1'), { code: 'VXNET_NETWORK_NOT_FOUND' }, 'n1 does not exist for users');
});
