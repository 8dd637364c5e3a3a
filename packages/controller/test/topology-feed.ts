/** The page's feed (src/topology/topology-feed.ts) on the in-memory store: records to changes, the bounded log, resume or snapshot. */
import t from 'tap';
import { MemoryStore, keys, silentLogger, type EndpointRecord, type SubnetLease } from '@vxnet/common';
import { TopologyFeed } from '../src/topology/topology-feed.js';

const k = keys('/f/');
const ep = (id: string): EndpointRecord => ({ id, networkId: 'n1', name: id, aliases: [], ip: '10.0.1.2', mac: '02:00:00:00:00:02', host: 'h1', container: `c-${id}`, createdAt: 'x' });
const lease: SubnetLease = { networkId: 'n1', subnet: '10.0.1.0/24', host: 'h1', underlayIp: '192.0.2.1', vtepMac: '02:00:00:00:00:01', acquiredAt: 'x', renewedAt: 'x', expiresAt: 'y' };
const settle = () => new Promise((r) => setTimeout(r, 20));

t.test('store records become the page\'s changes; keys it does not show are left out', async (t) => {
  const store = new MemoryStore();
  const feed = new TopologyFeed(store, k, silentLogger(), 3);
  t.teardown(() => feed.close());
  await store.put(k.lease('n1', lease.subnet), JSON.stringify(lease));
  await feed.start();
  const seen: string[] = [];
  feed.subscribe((d) => seen.push(...d.changes.map((c) => `${c.kind} ${c.key} ${c.value === null ? 'gone' : 'put'}`)));
  await store.put(k.allocations, '{"networks":[]}');
  await store.put(k.endpoint('n1', 'e1'), JSON.stringify(ep('e1')));
  await store.delete(k.lease('n1', lease.subnet));
  await settle();
  t.same(seen, ['endpoint n1/e1 put', 'lease n1/10.0.1.0/24 gone']);
  const snap = await feed.snapshot();
  t.same([snap.endpoints.length, snap.leases.length], [1, 0]);
  t.equal(snap.revision, (await store.list(k.prefix)).revision);
});

t.test('since(): the deltas after a revision while the log reaches back, else a snapshot', async (t) => {
  const store = new MemoryStore();
  const feed = new TopologyFeed(store, k, silentLogger(), 3);
  t.teardown(() => feed.close());
  await feed.start();
  const start = (await feed.snapshot()).revision;
  const revs: number[] = [];
  for (const id of ['a', 'b', 'c']) revs.push(await store.put(k.endpoint('n1', id), JSON.stringify(ep(id))));
  await settle();
  t.same(feed.since(revs[0]!)?.changes.map((c) => c.key), ['n1/b', 'n1/c']);
  t.equal(feed.since(revs[2]!), null, 'up to date: nothing to send');
  t.equal(feed.since(revs[2]! + 100), undefined, 'a revision from the future: snapshot');
  t.ok(feed.since(start), 'the log still reaches the start');
  await store.put(k.endpoint('n1', 'd'), JSON.stringify(ep('d')));
  await settle();
  t.equal(feed.since(start), undefined, 'the log rolled over: snapshot');
  t.same(feed.since(revs[0]!)?.changes.map((c) => c.key), ['n1/b', 'n1/c', 'n1/d']);
});
