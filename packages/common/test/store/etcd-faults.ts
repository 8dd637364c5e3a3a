/**
 * EtcdStore under faults, against a real etcd this test starts: server restart under
 * an open watch, compaction of the history a disconnected watcher needs, a lease
 * holder killed with SIGKILL, and two clients racing create-if-absent.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { EtcdStore } from '../../src/store/etcd-store.js';
import { etcdMissing, startTestEtcd, type TestEtcd } from '../../src/testing/etcd.js';
import { TcpProxy } from '../fixtures/tcp-proxy.js';
import { Recorder, eventually, uniquePrefix } from '../helpers/store-conformance.js';

const fastRetry = { initialMs: 50, maxMs: 500 };

/** Retry a write until the restarted server (and etcd3's circuit breaker) takes it. */
async function putEventually(store: EtcdStore, key: string, value: string): Promise<number> {
  let rev = 0;
  await eventually(`a write of ${key} to succeed`, 20_000, async () => {
    try {
      rev = await store.put(key, value);
      return true;
    } catch {
      return false;
    }
  });
  return rev;
}

const missing = etcdMissing();
if (missing !== undefined) {
  t.plan(0, `skipped: ${missing}`);
} else {
  const etcd: TestEtcd = await startTestEtcd('vxnet-faults');
  t.teardown(() => etcd.destroy());

  t.test('watch survives an etcd restart without loss or duplicates; leases are declared lost', async (t) => {
    const store = new EtcdStore({ endpoints: [etcd.endpoint], watchBackoff: fastRetry });
    t.teardown(() => store.close());
    const p = uniquePrefix('restart');
    await store.put(`${p}a`, '1');
    const rec = new Recorder();
    const w = await store.watch(p, await store.list(p), rec);
    await store.put(`${p}b`, '1');
    await rec.waitForKey(`${p}b`);

    const lease = await store.grantLease(2);
    let lostAt = 0;
    lease.onLost(() => (lostAt = Date.now()));

    const stoppedAt = Date.now();
    await etcd.stop();
    await eventually('the watch to report the broken stream', 10_000, () => rec.errors.length > 0);
    t.match(rec.errors[0], { code: 'VXNET_STORE_WATCH_INTERRUPTED' }, 'onError tells the handler');
    await eventually('the lease to be declared lost', 2000 + 3000, () => lostAt > 0);
    t.comment(`lease (TTL 2 s) declared lost ${lostAt - stoppedAt} ms after the server stopped`);
    t.ok(lostAt - stoppedAt <= 2000 + 1000, 'a lease is declared lost about one TTL after the server went away');

    await etcd.start();
    const restartedAt = Date.now();
    await putEventually(store, `${p}c`, '1');
    await store.put(`${p}b`, '2');
    await rec.waitForCount(3, 20_000);
    t.comment(`watch caught up ${Date.now() - restartedAt} ms after the restart`);
    t.same(rec.summary, [`put:${p}b`, `put:${p}c`, `put:${p}b`], 'events after the restart arrive, in order');
    rec.checkNoDuplicates(t);
    t.same(rec.resyncs, [], 'resumed from its revision, no re-list needed');
    t.equal(rec.maxInFlight, 1);
    await w.close();
  });

  t.test('watch re-lists after compaction and delivers exactly the difference', async (t) => {
    const port = Number(new URL(etcd.endpoint).port);
    const proxy = await TcpProxy.start(port);
    t.teardown(() => proxy.close());
    // The watcher reaches etcd through the proxy; the writer directly.
    const watcherStore = new EtcdStore({ endpoints: [proxy.endpoint], watchBackoff: fastRetry });
    const writer = new EtcdStore({ endpoints: [etcd.endpoint] });
    t.teardown(async () => {
      await watcherStore.close();
      await writer.close();
    });
    const p = uniquePrefix('compaction');
    for (const k of ['a', 'b', 'c']) await writer.put(`${p}${k}`, '1');
    const rec = new Recorder();
    const w = await watcherStore.watch(p, await watcherStore.list(p), rec);
    await writer.put(`${p}d`, '1');
    await rec.waitForKey(`${p}d`);

    proxy.cut();
    await eventually('the watch to notice the cut', 10_000, () => rec.errors.length > 0);
    // A restart during the gap as well, then the changes the watcher must learn about.
    await etcd.stop();
    await etcd.start();
    await putEventually(writer, `${p}b`, '2');
    await writer.delete(`${p}a`);
    await writer.put(`${p}e`, '1');
    await writer.put(`${p}f`, 'short-lived');
    await writer.delete(`${p}f`);
    const head = await writer.put(`${p.slice(0, -1)}-elsewhere`, '1');
    await etcd.compact(head);
    proxy.restore();

    await eventually('a resync', 20_000, () => rec.resyncs.length > 0);
    await rec.waitForCount(4);
    t.same(rec.summary.slice(0, 1), [`put:${p}d`], 'before the gap: d');
    t.same(new Set(rec.summary.slice(1)), new Set([`put:${p}b`, `del:${p}a`, `put:${p}e`]), 'after the gap: exactly the difference');
    t.equal(rec.events.length, 4, 'nothing else (f came and went, c and d did not change)');
    t.match(rec.events.find((e) => e.type === 'put' && e.kv.key === `${p}b`), { kv: { value: '2' }, prev: { value: '1' } }, 'a changed key arrives as a put with prev');
    t.match(rec.events.find((e) => e.type === 'delete'), { key: `${p}a`, prev: { value: '1' } }, 'a vanished key arrives as a delete');
    t.equal(rec.resyncs.length, 1, 'one resync');
    t.comment(`resync reason: ${rec.resyncs[0]}`);
    rec.checkNoDuplicates(t);

    await writer.put(`${p}g`, '1');
    await rec.waitForKey(`${p}g`);
    t.equal(rec.events.length, 5, 'live events flow again after the resync');
    t.ok(w.revision > head, 'the watch is past the compacted revision');
    await w.close();
  });

  t.test('keys of a SIGKILLed lease holder vanish within TTL + 1 s', async (t) => {
    const store = new EtcdStore({ endpoints: [etcd.endpoint] });
    t.teardown(() => store.close());
    const key = `${uniquePrefix('sigkill')}holder`;
    const ttl = 3;
    const script = fileURLToPath(new URL('../fixtures/lease-holder.js', import.meta.url));
    const child = spawn(process.execPath, [script, etcd.endpoint, key, String(ttl)], { stdio: ['ignore', 'pipe', 'inherit'] });
    const pid = child.pid;
    if (pid === undefined) throw new Error('could not spawn the lease holder');
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    t.teardown(async () => {
      if (child.exitCode === null && child.signalCode === null) process.kill(pid, 'SIGKILL');
      await exited;
    });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
    await eventually('the lease holder to print ready', 10_000, () => out.includes('ready'));
    const leaseId = /ready (\d+)/.exec(out)?.[1];
    t.match(await store.get(key), { value: String(pid), lease: leaseId }, 'the holder wrote its key, bound to its lease');

    process.kill(pid, 'SIGKILL');
    const killedAt = Date.now();
    await exited;
    const ms = await eventually('the key to vanish', 15_000, async () => (await store.get(key)) === undefined);
    const elapsed = Date.now() - killedAt;
    t.comment(`key vanished ${elapsed} ms after SIGKILL (TTL ${ttl} s; poll took ${ms} ms)`);
    t.ok(elapsed <= (ttl + 1) * 1000, `vanished within TTL + 1 s (${elapsed} ms)`);
  });

  t.test('two clients racing create-if-absent: one winner per round, losers see it', async (t) => {
    const s1 = new EtcdStore({ endpoints: [etcd.endpoint] });
    const s2 = new EtcdStore({ endpoints: [etcd.endpoint] });
    t.teardown(async () => {
      await s1.close();
      await s2.close();
    });
    const p = uniquePrefix('race');
    let bad = 0;
    const wins = [0, 0];
    for (let i = 0; i < 100; i++) {
      const key = `${p}${i}`;
      const [r1, r2] = await Promise.all([s1.create(key, 'one'), s2.create(key, 'two')]);
      if (r1.created === r2.created) {
        bad++;
        continue;
      }
      const [winner, loser, value] = r1.created ? [r1, r2, 'one'] : [r2, r1, 'two'];
      wins[r1.created ? 0 : 1]!++;
      if (!winner.created || loser.created || loser.current.value !== value || loser.current.modRevision !== winner.revision) bad++;
    }
    t.equal(bad, 0, 'in 100 rounds: exactly one winner, and the loser got its value and revision');
    t.comment(`wins: client 1 ${wins[0]}, client 2 ${wins[1]}`);
  });
}
