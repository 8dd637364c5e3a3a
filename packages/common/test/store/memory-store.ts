import t from 'tap';
import { ManualClock, MemoryStore } from '../../src/store/memory-store.js';
import { Recorder, storeConformance, uniquePrefix } from '../helpers/store-conformance.js';

storeConformance(t, async () => {
  const clock = new ManualClock(1_000_000);
  return { store: new MemoryStore({ clock }), elapse: async (ms) => clock.advance(ms) };
});

t.test('released leases expire by the injected clock', async (t) => {
  const clock = new ManualClock();
  const store = new MemoryStore({ clock });
  const p = uniquePrefix('expiry');
  const lease = await store.grantLease(3);
  await store.put(`${p}a`, '1', { lease: lease.id });
  clock.advance(60_000);
  t.equal(store.expireLeases(), 0, 'a kept-alive lease never expires');
  lease.release();
  clock.advance(2999);
  t.equal(store.expireLeases(), 0, 'not before its TTL');
  t.ok(await store.get(`${p}a`));
  clock.advance(1);
  t.equal(store.expireLeases(), 1, 'at its TTL');
  t.equal(await store.get(`${p}a`), undefined, 'its keys are gone');
  await store.close();
});

t.test('expireLease simulates a lost lease', async (t) => {
  const store = new MemoryStore({ clock: new ManualClock() });
  const p = uniquePrefix('lost');
  const from = await store.list(p);
  const rec = new Recorder();
  await store.watch(p, from, rec);
  const lease = await store.grantLease(10);
  await store.put(`${p}a`, '1', { lease: lease.id });
  await store.put(`${p}b`, '1', { lease: lease.id });
  const lost: Error[] = [];
  lease.onLost((err) => lost.push(err));
  t.equal(store.expireLease(lease.id), true);
  t.equal(store.expireLease(lease.id), false, 'a second time: no such lease');
  t.equal(lost.length, 1, 'onLost called once');
  t.match(lost[0], { code: 'VXNET_STORE_LEASE_LOST' });
  await rec.waitForCount(4);
  t.same(rec.summary, [`put:${p}a`, `put:${p}b`, `del:${p}a`, `del:${p}b`], 'watchers see the deletes');
  t.equal(rec.batches.at(-1)?.events.length, 2, 'both deletes at one revision');
  await t.rejects(lease.keepAliveOnce(), { code: 'VXNET_STORE_LEASE_LOST' });
  let late: Error | undefined;
  lease.onLost((err) => (late = err));
  await Promise.resolve();
  t.ok(late, 'a listener added after the loss is still told');
  await store.close();
  await t.rejects(store.get('x'), { code: 'VXNET_STORE_CLOSED' }, 'closed store refuses work');
});
