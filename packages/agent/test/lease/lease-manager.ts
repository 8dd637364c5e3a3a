/** The lease policy on the in-memory store with a manual clock (the real-etcd races run in test/lease/lease-etcd.ts). */
import t, { type Test } from 'tap';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ManualClock, MemoryStore, keys, silentLogger, type NetworkSpec, type Store, type SubnetLease } from '@vxnet/common';
import { LeaseManager } from '../../src/lease/lease-manager.js';

const k = keys('/t/');
const net = (over: Partial<NetworkSpec> = {}): NetworkSpec => ({
  id: 'a'.repeat(64), name: 'net1', driver: 'overlay', subnet: '10.128.0.0/16', hostSubnetLength: 24, vni: 4096, mtu: null,
  internal: false, labels: {}, options: {}, createdAt: new Date(0).toISOString(), ...over,
});

function manager(t: Test, store: Store, host: string, clock: ManualClock, stateDir?: string) {
  const dir = stateDir ?? mkdtempSync(join(tmpdir(), 'vxnet-lease-'));
  if (!stateDir) t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return new LeaseManager({
    store, keys: k, host, underlayIp: `192.0.2.${host.slice(1)}`, ttlSeconds: 86_400, renewMarginSeconds: 3600,
    stateFile: join(dir, 'subnets.json'), log: silentLogger(), clock,
  });
}

t.test('each host gets its own subnet of the right size, and keeps it', async (t) => {
  const clock = new ManualClock(Date.parse('2026-01-01T00:00:00Z'));
  const store = new MemoryStore({ clock });
  const [m1, m2] = [manager(t, store, 'h1', clock), manager(t, store, 'h2', clock)];
  const l1 = await m1.acquire(net(), '02:00:00:00:00:01');
  const l2 = await m2.acquire(net(), '02:00:00:00:00:02');
  t.match(l1.subnet, /^10\.128\.[0-9]+\.0\/24$/);
  t.not(l1.subnet, l2.subnet);
  t.equal(l1.expiresAt, '2026-01-02T00:00:00.000Z', 'expires one TTL after acquisition');
  const again = await m1.acquire(net(), '02:00:00:00:00:09');
  t.equal(again.subnet, l1.subnet, 'acquire is idempotent');
  t.equal(again.vtepMac, '02:00:00:00:00:09', 'and updates the VTEP MAC');
  const stored = JSON.parse((await store.get(k.lease(net().id, l1.subnet)))!.value) as SubnetLease;
  t.match(stored, { host: 'h1', underlayIp: '192.0.2.1', vtepMac: '02:00:00:00:00:09', acquiredAt: l1.acquiredAt });
});

t.test('exhaustion: a clear error, nothing half-made', async (t) => {
  const clock = new ManualClock(0);
  const store = new MemoryStore({ clock });
  const small = net({ subnet: '10.1.0.0/22', hostSubnetLength: 24 });
  for (let i = 1; i <= 4; i++) await manager(t, store, `h${i}`, clock).acquire(small, '02:00:00:00:00:01');
  const m5 = manager(t, store, 'h5', clock);
  await t.rejects(m5.acquire(small, '02:00:00:00:00:05'), { code: 'VXNET_SUBNET_EXHAUSTED', message: /subnet exhausted \(all 4 \/24 subnets of 10\.1\.0\.0\/22 are leased\)/ });
  t.equal((await store.list(k.networkLeases(small.id))).items.length, 4, 'no extra record');
  t.equal(m5.get(small.id), undefined);
});

t.test('20 hosts racing on one network never share a subnet', async (t) => {
  const clock = new ManualClock(0);
  const store = new MemoryStore({ clock });
  const n = net({ subnet: '10.2.0.0/19', hostSubnetLength: 24 }); // 32 subnets for 20 hosts: real contention
  const leases = await Promise.all(Array.from({ length: 20 }, (_, i) => manager(t, store, `h${i + 1}`, clock).acquire(n, '02:00:00:00:00:01')));
  t.equal(new Set(leases.map((l) => l.subnet)).size, 20);
  t.equal((await store.list(k.networkLeases(n.id))).items.length, 20);
});

t.test('a returning host gets its subnet back; if it was taken, another, never the old one', async (t) => {
  const clock = new ManualClock(0);
  const store = new MemoryStore({ clock });
  const stateDir = mkdtempSync(join(tmpdir(), 'vxnet-lease-'));
  t.teardown(() => rmSync(stateDir, { recursive: true, force: true }));
  const first = manager(t, store, 'h1', clock, stateDir);
  const l1 = await first.acquire(net(), 'm1');
  t.same(JSON.parse(readFileSync(join(stateDir, 'subnets.json'), 'utf8')), { [net().id]: l1.subnet }, 'remembered locally');

  // restart within the TTL: the record is still there, adopted by the new run
  first.stop();
  const second = manager(t, store, 'h1', clock, stateDir);
  const adopted = await second.adopt();
  t.same(adopted.map((l) => l.subnet), [l1.subnet]);
  t.equal((await second.acquire(net(), 'm1')).subnet, l1.subnet);

  // the record vanished (e.g. store lease expired during a long outage) but the subnet is free: same subnet
  second.stop();
  clock.advance(86_400_000 + 1);
  store.expireLeases();
  t.equal((await store.list(k.leases)).items.length, 0, 'record expired with its lease');
  const third = manager(t, store, 'h1', clock, stateDir);
  t.same(await third.adopt(), []);
  t.equal((await third.acquire(net(), 'm1')).subnet, l1.subnet, 'remembered subnet reused');

  // gone again, and this time someone else takes that subnet: h1 takes a new one
  third.stop();
  clock.advance(86_400_000 + 1);
  store.expireLeases();
  await store.create(k.lease(net().id, l1.subnet), JSON.stringify({ networkId: net().id, subnet: l1.subnet, host: 'h2' }));
  const fourth = manager(t, store, 'h1', clock, stateDir);
  const l4 = await fourth.acquire(net(), 'm1');
  t.not(l4.subnet, l1.subnet, 'the taken subnet is not used');
});

t.test('renewal rewrites expiry once within the margin; a lost store lease is reported', async (t) => {
  const clock = new ManualClock(0);
  const store = new MemoryStore({ clock });
  const m = manager(t, store, 'h1', clock);
  const l = await m.acquire(net(), 'm1');
  t.equal(await m.renewDue(), 0, 'nothing due right after acquisition');
  clock.advance((86_400 - 3600 - 1) * 1000);
  t.equal(await m.renewDue(), 0, 'not yet within the margin');
  clock.advance(2000);
  t.equal(await m.renewDue(), 1);
  const rec = JSON.parse((await store.get(k.lease(net().id, l.subnet)))!.value) as SubnetLease;
  t.equal(rec.renewedAt, new Date(clock.now()).toISOString());
  t.equal(Date.parse(rec.expiresAt), clock.now() + 86_400_000);
  t.equal(rec.acquiredAt, l.acquiredAt);

  const lost = new Promise<string[]>((resolve) => m.onLost(resolve));
  const leaseId = (await store.get(k.lease(net().id, l.subnet)))!.lease!;
  store.expireLease(leaseId);
  t.same(await lost, [net().id], 'listeners learn which networks lost their subnet');
  t.equal(m.get(net().id), undefined);
  t.equal((await m.acquire(net(), 'm1')).subnet, l.subnet, 're-leased the same subnet');
});

t.test('release deletes the record and forgets the subnet', async (t) => {
  const clock = new ManualClock(0);
  const store = new MemoryStore({ clock });
  const m = manager(t, store, 'h1', clock);
  await m.acquire(net(), 'm1');
  await m.release(net().id);
  await m.release(net().id);
  t.same((await store.list(k.leases)).items, []);
  t.same(m.all(), []);
});

t.test('an unreadable state file is refused, never taken for "nothing remembered"', async (t) => {
  const clock = new ManualClock(0);
  const store = new MemoryStore({ clock });
  const stateDir = mkdtempSync(join(tmpdir(), 'vxnet-lease-'));
  t.teardown(() => rmSync(stateDir, { recursive: true, force: true }));
  const file = join(stateDir, 'subnets.json');
  writeFileSync(file, '{"a": "10.128.7.0/24",');
  const m = manager(t, store, 'h1', clock, stateDir);
  t.throws(() => m.load(), { code: 'VXNET_STATE_UNREADABLE', message: new RegExp(`^cannot read state file ${file} \\(.+\\): fix or restore it; nothing was changed\\. To rebuild from scratch, remove ${file}`) });
  await t.rejects(m.acquire(net(), 'm1'), { code: 'VXNET_STATE_UNREADABLE' }, 'acquire refuses too (it would forget the remembered subnet)');
  t.equal(readFileSync(file, 'utf8'), '{"a": "10.128.7.0/24",', 'the file is left as it was');
  t.equal((await store.list(k.leases)).items.length, 0, 'nothing leased');
  writeFileSync(file, '["10.128.7.0/24"]');
  t.throws(() => m.load(), { code: 'VXNET_STATE_UNREADABLE', message: /\(not a JSON object\)/ }, 'valid JSON of the wrong shape too');
});
