/** The lease policy on a real store, etcd and Redis: 20 hosts (20 clients) racing for subnets. */
import t, { type Test } from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { keys, silentLogger, type NetworkSpec } from '@vxnet/common';
import { STORE_KINDS, startTestStore, storeMissing, type TestStore } from '@vxnet/common/testing';
import { LeaseManager } from '../../src/lease/lease-manager.js';

for (const kind of STORE_KINDS) {
  const missing = storeMissing(kind);
  t.test(`on ${kind}`, { skip: missing ?? false }, async (t) => {
    const server = await startTestStore(kind, 'vxnet-lease-test');
    t.teardown(() => server.destroy());
    await leaseRace(t, server);
  });
}

async function leaseRace(t: Test, server: TestStore): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), `vxnet-lease-${server.kind}-`));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const k = keys('/lease-race/');
  const net = (id: string, subnet: string): NetworkSpec => ({
    id: id.repeat(64).slice(0, 64), name: `n-${id}`, driver: 'overlay', subnet, hostSubnetLength: 24, vni: 4096, mtu: null,
    internal: false, labels: {}, options: {}, createdAt: new Date().toISOString(),
  });
  const hosts = await Promise.all(Array.from({ length: 20 }, async (_, i) => {
    const store = await server.open();
    const m = new LeaseManager({
      store, keys: k, host: `h${i + 1}`, underlayIp: `198.51.100.${i + 1}`, ttlSeconds: 3600, renewMarginSeconds: 600,
      stateFile: join(dir, `h${i + 1}.json`), log: silentLogger(),
    });
    return { store, m };
  }));
  t.teardown(async () => {
    for (const h of hosts) {
      h.m.stop();
      await h.store.close();
    }
  });

  t.test('20 agents racing on a network with 32 subnets: 20 distinct subnets', async (t) => {
    for (let round = 0; round < 3; round++) {
      const n = net(String.fromCharCode(97 + round), `10.${10 + round}.0.0/19`);
      const leases = await Promise.all(hosts.map((h) => h.m.acquire(n, '02:00:00:00:00:01')));
      t.equal(new Set(leases.map((l) => l.subnet)).size, 20, `round ${round}: no subnet shared`);
      const stored = (await hosts[0]!.store.list(k.networkLeases(n.id))).items;
      t.equal(stored.length, 20, `round ${round}: 20 records`);
      t.same(new Set(stored.map((kv) => JSON.parse(kv.value).host)).size, 20);
    }
  });

  t.test('20 agents racing for 16 subnets: 16 leases, 4 clear exhaustion errors', async (t) => {
    const n = net('z', '10.20.0.0/20');
    const results = await Promise.allSettled(hosts.map((h) => h.m.acquire(n, '02:00:00:00:00:01')));
    const ok = results.filter((r) => r.status === 'fulfilled');
    const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    t.equal(ok.length, 16);
    t.equal(failed.length, 4);
    t.ok(failed.every((f) => (f.reason as { code?: string }).code === 'VXNET_SUBNET_EXHAUSTED'), 'each loser is told the network is exhausted');
    t.equal((await hosts[0]!.store.list(k.networkLeases(n.id))).items.length, 16, 'no record beyond the 16');
  });
}
