/**
 * Tunnel addresses: claimed once per host in the store (create-if-absent), the same
 * again after a restart, never two hosts on one, a full pool refused.
 */
import t from 'tap';
import { MemoryStore, keys } from '@vxnet/common';
import { claimTunnelAddress } from '../../src/wireguard/tunnel-address.js';

const k = keys('/t/');

t.test('one address per host, kept, unique', async (t) => {
  const store = new MemoryStore();
  const a = await claimTunnelAddress(store, k, 'h1', '100.127.0.0/16');
  t.match(a, /^100\.127\.\d+\.\d+$/);
  t.equal(await claimTunnelAddress(store, k, 'h1', '100.127.0.0/16'), a, 'the same address on restart');
  t.equal((await store.get(k.tunnel(a)))?.value, 'h1');
  const hosts = Array.from({ length: 20 }, (_, i) => `host-${i}`);
  const got = await Promise.all(hosts.map((h) => claimTunnelAddress(store, k, h, '100.127.0.0/16')));
  t.equal(new Set([a, ...got]).size, 21, 'no two hosts share an address, also when racing');
});

t.test('a small pool: network and broadcast addresses skipped, full refused', async (t) => {
  const store = new MemoryStore();
  const got = [await claimTunnelAddress(store, k, 'a', '100.127.0.0/30'), await claimTunnelAddress(store, k, 'b', '100.127.0.0/30')].sort();
  t.same(got, ['100.127.0.1', '100.127.0.2']);
  await t.rejects(claimTunnelAddress(store, k, 'c', '100.127.0.0/30'), /pool 100\.127\.0\.0\/30 is full/);
});
