/**
 * The Store conformance suite: every implementation runs it (etcd-store.ts,
 * memory-store.ts). Each subtest works under its own key prefix, unique per run, so
 * suites can share a server.
 */
import { randomBytes } from 'node:crypto';
import type { Test } from 'tap';
import type { Store, WatchEvent, WatchHandler } from '../../src/store/store.js';

export interface StoreFixture {
  /** A fresh client; the suite closes it. */
  store: Store;
  /**
   * Let `ms` of lease time pass: a real sleep for a real server, a clock advance for a
   * store with a fake clock.
   */
  elapse(ms: number): Promise<void>;
}

/** A prefix no other run or subtest uses. */
export function uniquePrefix(name: string): string {
  return `/vxnet-test/${process.pid}-${randomBytes(4).toString('hex')}/${name}/`;
}

export function eventKey(e: WatchEvent): string {
  return e.type === 'put' ? e.kv.key : e.key;
}

export function eventRevision(e: WatchEvent): number {
  return e.type === 'put' ? e.kv.modRevision : e.revision;
}

/** Poll `check` every 10 ms until it is true; throw after `timeoutMs`. Returns the ms it took. */
export async function eventually(what: string, timeoutMs: number, check: () => boolean | Promise<boolean>): Promise<number> {
  const t0 = Date.now();
  for (;;) {
    if (await check()) return Date.now() - t0;
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** A WatchHandler that records everything and checks that calls never overlap. */
export class Recorder implements WatchHandler {
  readonly batches: Array<{ events: WatchEvent[]; revision: number }> = [];
  readonly events: WatchEvent[] = [];
  readonly resyncs: string[] = [];
  readonly errors: Error[] = [];
  maxInFlight = 0;
  private inFlight = 0;

  /** @param delayMs how long each onEvents call takes, to expose overlapping calls. */
  constructor(private readonly delayMs = 0) {}

  async onEvents(events: WatchEvent[], revision: number): Promise<void> {
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    if (this.delayMs > 0) await new Promise((r) => setTimeout(r, this.delayMs));
    this.batches.push({ events, revision });
    this.events.push(...events);
    this.inFlight--;
  }

  onResync(reason: string): void {
    this.resyncs.push(reason);
  }

  onError(err: Error): void {
    this.errors.push(err);
  }

  /** Keys of the recorded events, in order, as "put:k" / "del:k". */
  get summary(): string[] {
    return this.events.map((e) => `${e.type === 'put' ? 'put' : 'del'}:${eventKey(e)}`);
  }

  /** Wait until at least `n` events have been recorded. */
  async waitForCount(n: number, timeoutMs = 10_000): Promise<void> {
    await eventually(`${n} watch events (have ${this.events.length}: ${this.summary.join(' ')})`, timeoutMs, () => this.events.length >= n);
  }

  /** Wait until an event for `key` has been recorded. */
  async waitForKey(key: string, timeoutMs = 10_000): Promise<WatchEvent> {
    let found: WatchEvent | undefined;
    await eventually(`a watch event for ${key}`, timeoutMs, () => (found = this.events.find((e) => eventKey(e) === key)) !== undefined);
    return found as WatchEvent;
  }

  /** No (key, revision) pair twice, and revisions never decrease. */
  checkNoDuplicates(t: Test): void {
    const seen = new Set(this.events.map((e) => `${eventKey(e)}@${eventRevision(e)}`));
    t.equal(seen.size, this.events.length, 'no event delivered twice');
    const revs = this.batches.map((b) => b.revision);
    t.same(revs, [...revs].sort((a, b) => a - b), 'batches arrive in revision order');
  }
}

export function storeConformance(t: Test, makeStore: () => Promise<StoreFixture>): void {
  const withStore = (name: string, fn: (t: Test, f: StoreFixture, prefix: string) => Promise<void>) =>
    t.test(name, async (t) => {
      const f = await makeStore();
      t.teardown(() => f.store.close());
      await fn(t, f, uniquePrefix(name.replace(/[^a-z0-9]+/gi, '-')));
    });

  withStore('get and put', async (t, { store }, p) => {
    t.equal(await store.get(`${p}a`), undefined, 'absent key reads as undefined');
    const r1 = await store.put(`${p}a`, 'one');
    t.ok(r1 > 0, 'put returns a positive revision');
    t.same(await store.get(`${p}a`), { key: `${p}a`, value: 'one', createRevision: r1, modRevision: r1, version: 1, lease: undefined });
    const r2 = await store.put(`${p}a`, 'two');
    t.ok(r2 > r1, 'revisions increase');
    t.same(await store.get(`${p}a`), { key: `${p}a`, value: 'two', createRevision: r1, modRevision: r2, version: 2, lease: undefined });
  });

  withStore('list', async (t, { store }, p) => {
    const empty = await store.list(p);
    t.same(empty.items, [], 'nothing under a fresh prefix');
    t.type(empty.revision, 'number', 'an empty list still has a revision');
    await store.put(`${p}b`, '2');
    await store.put(`${p}a`, '1');
    const last = await store.put(`${p}c/d`, '3');
    await store.put(`${p.slice(0, -1)}x`, 'outside');
    const l = await store.list(p);
    t.same(l.items.map((kv) => [kv.key, kv.value]), [[`${p}a`, '1'], [`${p}b`, '2'], [`${p}c/d`, '3']], 'sorted by key, prefix only');
    t.ok(l.revision >= last + 1, 'snapshot revision covers every write so far');
  });

  withStore('list in pages', async (t, { store }, p) => {
    for (const k of ['a', 'b', 'c', 'd', 'e']) await store.put(`${p}${k}`, k);
    await store.put(`${p.slice(0, -1)}x`, 'outside');
    const one = await store.list(p, { limit: 2 });
    t.same(one.items.map((kv) => kv.value), ['a', 'b'], 'the first page');
    t.equal(one.more, true, 'says more keys follow');
    const two = await store.list(p, { after: `${p}b`, limit: 2 });
    t.same(two.items.map((kv) => kv.value), ['c', 'd'], 'the next page starts after the last key');
    const three = await store.list(p, { after: `${p}d`, limit: 2 });
    t.same(three.items.map((kv) => kv.value), ['e'], 'the last page');
    t.equal(three.more, false, 'says nothing follows');
    const exact = await store.list(p, { limit: 5 });
    t.equal(exact.more, false, 'a limit equal to the count leaves nothing out');
    t.same((await store.list(p, { after: `${p}bb` })).items.map((kv) => kv.value), ['c', 'd', 'e'], 'after a key that is not there, without a limit');
    t.same((await store.list(p, { after: p.slice(0, -2), limit: 1 })).items.map((kv) => kv.value), ['a'], 'after a key before the prefix: from the start of the prefix');
    t.same((await store.list(p, { after: `${p}e` })).items, [], 'after the last key: empty');
    await t.rejects(store.list(p, { limit: 0 }), { code: 'VXNET_INVALID_ARGUMENT' }, 'a zero limit is refused');
    await t.rejects(store.list(p, { limit: 1.5 }), { code: 'VXNET_INVALID_ARGUMENT' }, 'a fractional limit is refused');
  });

  withStore('create if absent', async (t, { store }, p) => {
    const first = await store.create(`${p}k`, 'winner');
    t.ok(first.created, 'first create wins');
    const second = await store.create(`${p}k`, 'loser');
    t.equal(second.created, false, 'second create loses');
    if (first.created && !second.created) {
      t.equal(second.current.value, 'winner', "the loser gets the winner's value");
      t.equal(second.current.modRevision, first.revision, "and the winner's revision");
    }
    t.equal((await store.get(`${p}k`))?.value, 'winner', 'the value is unchanged');

    const racers = await Promise.all(Array.from({ length: 10 }, (_, i) => store.create(`${p}race`, `v${i}`)));
    const winners = racers.filter((r) => r.created);
    t.equal(winners.length, 1, 'exactly one of 10 concurrent creates wins');
    const stored = await store.get(`${p}race`);
    for (const r of racers) if (!r.created) t.equal(r.current.value, stored?.value, "every loser sees the winner's value");
  });

  withStore('compare and put', async (t, { store }, p) => {
    const k = `${p}k`;
    t.same(await store.compareAndPut(k, 'x', 7), { ok: false, current: undefined }, 'expected revision on an absent key fails');
    const a = await store.compareAndPut(k, 'v1', 0);
    t.ok(a.ok, 'expected 0 on an absent key creates it');
    const b = await store.compareAndPut(k, 'v1b', 0);
    t.equal(b.ok, false, 'expected 0 on a present key fails');
    if (!b.ok) t.equal(b.current?.value, 'v1', 'and returns what is there');
    const cur = await store.get(k);
    const c = await store.compareAndPut(k, 'v2', cur?.modRevision ?? -1);
    t.ok(c.ok, 'the current modRevision succeeds');
    if (c.ok) t.equal((await store.get(k))?.modRevision, c.revision, 'the returned revision is the new modRevision');
    const d = await store.compareAndPut(k, 'v3', cur?.modRevision ?? -1);
    t.equal(d.ok, false, 'a stale revision fails');
    if (!d.ok) t.equal(d.current?.value, 'v2', 'and returns the current record');
    t.equal((await store.get(k))?.value, 'v2', 'a failed compare writes nothing');
  });

  withStore('delete', async (t, { store }, p) => {
    await store.put(`${p}a`, '1');
    t.equal(await store.delete(`${p}a`), true, 'deleting a present key returns true');
    t.equal(await store.get(`${p}a`), undefined, 'the key is gone');
    t.equal(await store.delete(`${p}a`), false, 'deleting an absent key returns false');
    const r = await store.put(`${p}b`, '1');
    await store.put(`${p}b`, '2');
    t.equal(await store.delete(`${p}b`, r), false, 'a stale expected revision deletes nothing');
    const cur = await store.get(`${p}b`);
    t.equal(cur?.value, '2', 'the key is still there');
    t.equal(await store.delete(`${p}b`, cur?.modRevision), true, 'the current revision deletes');
    t.equal(await store.get(`${p}b`), undefined, 'gone');
  });

  withStore('delete prefix', async (t, { store }, p) => {
    await store.put(`${p}sub/a`, '1');
    await store.put(`${p}sub/b`, '1');
    await store.put(`${p}sub/c/d`, '1');
    await store.put(`${p}other`, '1');
    t.equal(await store.deletePrefix(`${p}sub/`), 3, 'returns the number deleted');
    t.same((await store.list(p)).items.map((kv) => kv.key), [`${p}other`], 'only the prefix went');
    t.equal(await store.deletePrefix(`${p}sub/`), 0, 'again: nothing to delete');
    await t.rejects(store.deletePrefix(''), { code: 'VXNET_INVALID_ARGUMENT' }, 'an empty prefix is refused');
  });

  withStore('lease grant, bind and revoke', async (t, { store }, p) => {
    const lease = await store.grantLease(2);
    t.match(lease.id, /^[0-9]+$/, 'id is a decimal string');
    t.ok(lease.ttlSeconds >= 2, 'ttl is at least what was asked');
    await store.put(`${p}a`, '1', { lease: lease.id });
    const created = await store.create(`${p}b`, '1', { lease: lease.id });
    t.ok(created.created);
    const cas = await store.compareAndPut(`${p}c`, '1', 0, { lease: lease.id });
    t.ok(cas.ok);
    await store.put(`${p}free`, '1');
    t.equal((await store.get(`${p}a`))?.lease, lease.id, 'the key records its lease');
    await lease.revoke();
    t.same((await store.list(p)).items.map((kv) => kv.key), [`${p}free`], 'revoke deletes every bound key at once');
    await lease.revoke();
    t.pass('revoke is idempotent');
    await t.rejects(store.put(`${p}d`, '1', { lease: lease.id }), { code: 'VXNET_STORE_LEASE_LOST' }, 'writing with a revoked lease fails');
    await t.rejects(lease.keepAliveOnce(), { code: 'VXNET_STORE_LEASE_LOST' }, 'renewing a revoked lease fails');
  });

  withStore('lease keepalive and release', async (t, { store, elapse }, p) => {
    const lease = await store.grantLease(2);
    await store.put(`${p}a`, '1', { lease: lease.id });
    let lost: Error | undefined;
    lease.onLost((err) => (lost = err));
    await elapse(lease.ttlSeconds * 2500);
    t.equal((await store.get(`${p}a`))?.value, '1', 'a kept-alive lease outlives 2.5 × its TTL');
    await lease.keepAliveOnce();
    t.pass('keepAliveOnce on a live lease resolves');
    lease.release();
    lease.release();
    await elapse(lease.ttlSeconds * 1000);
    const ms = await eventually('the released lease to expire', 5000, async () => (await store.get(`${p}a`)) === undefined);
    t.comment(`key gone ${ms} ms after TTL elapsed since release`);
    t.equal(lost, undefined, 'release is not a loss');
  });

  withStore('watch', async (t, { store }, p) => {
    await store.put(`${p}before`, '0');
    const from = await store.list(p);
    // Written after the snapshot, before the watch: must still arrive (no gap).
    await store.put(`${p}gap`, '1');
    const rec = new Recorder(5);
    const w = await store.watch(p, from, rec);
    await store.put(`${p}a`, '1');
    await store.put(`${p}b`, '1');
    await store.put(`${p.slice(0, -1)}x`, 'outside');
    await store.put(`${p}a`, '2');
    await store.delete(`${p}b`);
    await store.put(`${p}c`, '1');
    await store.put(`${p}d`, '1');
    await store.deletePrefix(`${p}c`);
    await rec.waitForCount(8);
    t.same(rec.summary, [`put:${p}gap`, `put:${p}a`, `put:${p}b`, `put:${p}a`, `del:${p}b`, `put:${p}c`, `put:${p}d`, `del:${p}c`], 'every change, in order, prefix only');
    const [gap, a1, , a2, delB] = rec.events;
    t.equal(gap?.type === 'put' && gap.prev, undefined, 'a new key has no prev');
    t.match(a2, { type: 'put', kv: { value: '2', version: 2 }, prev: { value: '1', modRevision: a1?.type === 'put' ? a1.kv.modRevision : -1 } }, 'an update carries prev');
    t.match(delB, { type: 'delete', key: `${p}b`, prev: { value: '1' } }, 'a delete carries prev');
    t.ok(delB?.type === 'delete' && delB.revision > 0, 'a delete carries its revision');
    t.equal(rec.maxInFlight, 1, 'one handler call at a time');
    for (const b of rec.batches) t.equal(b.revision, Math.max(...b.events.map(eventRevision)), 'batch revision = its last event');
    rec.checkNoDuplicates(t);
    t.equal(w.revision, rec.batches.at(-1)?.revision, 'watch.revision is the last delivered');
    t.same(rec.resyncs, [], 'no resync');
    await w.close();
  });

  withStore('watch close stops delivery', async (t, { store }, p) => {
    const from = await store.list(p);
    const closed = new Recorder();
    const witness = new Recorder();
    const w1 = await store.watch(p, from, closed);
    const w2 = await store.watch(p, from, witness);
    await store.put(`${p}a`, '1');
    await closed.waitForKey(`${p}a`);
    await w1.close();
    await w1.close();
    t.pass('close is idempotent');
    await store.put(`${p}b`, '1');
    await witness.waitForKey(`${p}b`);
    t.same(closed.summary, [`put:${p}a`], 'nothing after close (a second watch saw the later write)');
    await w2.close();
  });

  withStore('close', async (t, { store }, p) => {
    const w = await store.watch(p, await store.list(p), new Recorder());
    await store.close();
    await store.close();
    t.pass('close is idempotent');
    await w.close();
    t.pass('closing a watch of a closed store is fine');
    await t.rejects(store.get(`${p}a`), { code: 'VXNET_STORE_CLOSED' }, 'a closed store refuses work');
  });

  withStore('watch resumes from an older snapshot', async (t, { store }, p) => {
    const from = await store.list(p);
    await store.put(`${p}a`, '1');
    await store.put(`${p}b`, '1');
    await store.delete(`${p}a`);
    const rec = new Recorder();
    const w = await store.watch(p, from, rec);
    await rec.waitForCount(3);
    t.same(rec.summary, [`put:${p}a`, `put:${p}b`, `del:${p}a`], 'history after the snapshot is replayed');
    await w.close();
  });
}
