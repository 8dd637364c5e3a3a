/** Host registration on the in-memory store, with a scripted route reader. */
import t, { type Test } from 'tap';
import { MemoryStore, keys, silentLogger, type HostRecord, type Store } from '@vxnet/common';
import { HostRegistration } from '../../src/registration/host-registration.js';

const k = keys('/t/');

/** A store that counts writes to hosts/<host>. */
function countingStore(): { store: Store; hostWrites: () => number } {
  const store = new MemoryStore();
  let writes = 0;
  const put = store.put.bind(store);
  store.put = async (key, value, opts) => {
    if (key === k.host('h1')) writes++;
    return put(key, value, opts);
  };
  return { store, hostWrites: () => writes };
}

function registration(t: Test, store: Store, readRoutes: () => Promise<string[]>): HostRegistration {
  const reg = new HostRegistration({
    store, keys: k, host: 'h1', underlayIp: '192.0.2.1', underlayInterface: 'eth0', agentVersion: '0.1.0', ttlSeconds: 10, readRoutes, log: silentLogger(),
  });
  t.teardown(() => reg.stop());
  return reg;
}

async function record(store: Store): Promise<HostRecord> {
  const kv = await store.get(k.host('h1'));
  if (!kv) throw new Error('no host record');
  return JSON.parse(kv.value) as HostRecord;
}

t.test('routes are in the host record from registration on, and rewritten only when they change', async (t) => {
  const { store, hostWrites } = countingStore();
  let routes = ['192.0.2.0/24', '10.99.1.0/24'];
  const reg = registration(t, store, async () => routes);
  await reg.start();
  t.same((await record(store)).routes, ['192.0.2.0/24', '10.99.1.0/24']);
  t.ok(await store.get(k.hostAlive('h1')), 'alive');

  const before = hostWrites();
  t.equal(await reg.refreshRoutes(), false, 'unchanged: nothing written');
  t.equal(hostWrites(), before);

  routes = ['192.0.2.0/24', '10.99.1.0/24', '172.16.0.0/12']; // a VPN came up
  t.equal(await reg.refreshRoutes(), true);
  t.equal(hostWrites(), before + 1, 'one write');
  t.same((await record(store)).routes, ['192.0.2.0/24', '10.99.1.0/24', '172.16.0.0/12']);

  await reg.setNetworks(['n1']);
  t.same((await record(store)).routes, ['192.0.2.0/24', '10.99.1.0/24', '172.16.0.0/12'], 'other writes keep the routes');
});

t.test('a failed read keeps the last known routes, also across a restart', async (t) => {
  const store = new MemoryStore();
  const first = registration(t, store, async () => ['198.51.100.0/24']);
  await first.start();
  await first.stop();

  let fail = true;
  const second = registration(t, store, async () => {
    if (fail) throw new Error('Request rejected: ENOBUFS');
    return ['203.0.113.0/24'];
  });
  await second.start();
  t.same((await record(store)).routes, ['198.51.100.0/24'], 'the last run\'s routes stand, not []');
  t.equal(await second.refreshRoutes(), false, 'still failing: nothing written');
  fail = false;
  t.equal(await second.refreshRoutes(), true);
  t.same((await record(store)).routes, ['203.0.113.0/24']);
});
