/**
 * RedisStore under faults, against a real Redis this test starts (appendonly, fsync
 * always): kill -9 of the server during writes under open watches, FLUSHALL, a restart
 * from older data, watchers whose history was trimmed, answers lost and requests timed
 * out across a reconnect, a lease holder killed with SIGKILL or paused with SIGSTOP,
 * and two clients racing create-if-absent.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { cp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import t, { type Test } from 'tap';
import { RedisStore } from '../../src/store/redis-store.js';
import type { KeyValue, WatchEvent } from '../../src/store/store.js';
import { redisMissing, startTestRedis, type TestRedis } from '../../src/testing/redis.js';
import { TcpProxy } from '../fixtures/tcp-proxy.js';
import { Recorder, eventKey, eventually, uniquePrefix } from '../helpers/store-conformance.js';

const fastRetry = { initialMs: 50, maxMs: 500 };

/** What a watcher believes is there (key -> value), from the events it was given. */
function view(events: WatchEvent[]): Map<string, string> {
  const m = new Map<string, string>();
  for (const e of events) {
    if (e.type === 'put') m.set(e.kv.key, e.kv.value);
    else m.delete(e.key);
  }
  return m;
}

function asMap(items: KeyValue[]): Map<string, string> {
  return new Map(items.map((kv) => [kv.key, kv.value]));
}

function sameMap(a: Map<string, string>, b: Map<string, string>): boolean {
  return a.size === b.size && [...a].every(([k, v]) => b.get(k) === v);
}

/** The lease-holder fixture on this Redis, its output collected; killed in teardown. */
async function startHolder(t: Test, url: string, key: string, ttl: number): Promise<{ child: ChildProcessWithoutNullStreams; pid: number; leaseId: string; output: () => string }> {
  const script = fileURLToPath(new URL('../fixtures/lease-holder.js', import.meta.url));
  const child = spawn(process.execPath, [script, url, key, String(ttl)], { stdio: ['pipe', 'pipe', 'pipe'] });
  const pid = child.pid;
  if (pid === undefined) throw new Error('could not spawn the lease holder');
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      process.kill(pid, 'SIGKILL');
      process.kill(pid, 'SIGCONT');
    }
    await exited;
  });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
  child.stderr.setEncoding('utf8').on('data', (s: string) => process.stderr.write(s));
  await eventually('the lease holder to print ready', 10_000, () => out.includes('ready'));
  return { child, pid, leaseId: /ready (\d+)/.exec(out)?.[1] ?? '', output: () => out };
}

const missing = redisMissing();
if (missing !== undefined) {
  t.plan(0, `skipped: ${missing}`);
} else {
  const redis: TestRedis = await startTestRedis('vxnet-faults');
  t.teardown(() => redis.destroy());

  t.test('kill -9 of Redis during 1,000 writes from 3 clients: every acknowledged write seen once by every matching watcher', async (t) => {
    const writers = [0, 1, 2].map(() => new RedisStore({ url: redis.url, watchBackoff: fastRetry }));
    const watcherStore = new RedisStore({ url: redis.url, watchBackoff: fastRetry });
    t.teardown(async () => {
      for (const s of [...writers, watcherStore]) await s.close();
    });
    const p = uniquePrefix('kill9');
    // Keys are `${p}w<writer>/k<j % 20>`: all, one writer's, and part of another's (on a store that writes too).
    const watched = [
      { store: watcherStore, prefix: p },
      { store: watcherStore, prefix: `${p}w0/` },
      { store: writers[1] as RedisStore, prefix: `${p}w1/k1` },
    ];
    const recs: Recorder[] = [];
    for (const { store, prefix } of watched) {
      const rec = new Recorder();
      recs.push(rec);
      await store.watch(prefix, await store.list(prefix), rec);
    }

    const acked = new Map<string, { key: string; rev: number }>();
    const failed = new Map<string, string>();
    const keyOf = (i: number, j: number) => `${p}w${i}/k${j % 20}`;
    const writeAll = async (i: number, n: number) => {
      const store = writers[i] as RedisStore;
      let next = 0;
      const worker = async () => {
        for (let j = next++; j < n; j = next++) {
          const key = keyOf(i, j);
          const value = `${i}:${j}`;
          try {
            acked.set(value, { key, rev: await store.put(key, value) });
          } catch (err) {
            failed.set(value, key);
            t.comment(`write ${value} failed: ${(err as Error).message}`);
          }
        }
      };
      await Promise.all([worker(), worker(), worker(), worker()]);
    };
    let killedAt = 0;
    let restartedAt = 0;
    let ackedAtKill = 0;
    const chaos = async () => {
      await eventually('300 acknowledged writes', 20_000, () => acked.size >= 300);
      ackedAtKill = acked.size;
      await redis.kill9();
      killedAt = Date.now();
      await sleep(300);
      await redis.start();
      restartedAt = Date.now();
    };
    const t0 = Date.now();
    await Promise.all([writeAll(0, 334), writeAll(1, 333), writeAll(2, 333), chaos()]);
    const wroteMs = Date.now() - t0;
    t.comment(`1000 writes in ${wroteMs} ms: ${acked.size} acknowledged, ${failed.size} failed; kill -9 after ${ackedAtKill} acks, Redis back ${restartedAt - killedAt} ms later`);
    t.ok(acked.size >= 990, 'writes issued during a short restart waited and succeeded');

    for (const [n, { prefix }] of watched.entries()) {
      const rec = recs[n] as Recorder;
      const expected = [...acked].filter(([, w]) => w.key.startsWith(prefix));
      const seen = () => new Set(rec.events.map((e) => (e.type === 'put' ? e.kv.value : '')));
      const ms = await eventually(`watcher ${n} to see its ${expected.length} writes`, 20_000, () => {
        const s = seen();
        return expected.every(([v]) => s.has(v));
      });
      await sleep(200); // stragglers would be duplicates
      const counts = new Map<string, number>();
      for (const e of rec.events) if (e.type === 'put') counts.set(e.kv.value, (counts.get(e.kv.value) ?? 0) + 1);
      const wrongRev = expected.filter(([v, w]) => rec.events.find((e) => e.type === 'put' && e.kv.value === v && e.kv.modRevision === w.rev) === undefined);
      t.same(wrongRev.map(([v]) => v), [], `watcher ${n} (${prefix.slice(p.length) || 'all'}): every acknowledged write, at its revision`);
      t.same([...counts].filter(([, c]) => c > 1), [], `watcher ${n}: nothing twice`);
      t.same(rec.events.filter((e) => !eventKey(e).startsWith(prefix)), [], `watcher ${n}: nothing outside its prefix`);
      const revs = rec.events.map((e) => (e.type === 'put' ? e.kv.modRevision : e.revision));
      t.ok(revs.every((r, i) => i === 0 || r > (revs[i - 1] as number)), `watcher ${n}: in revision order`);
      t.equal(rec.maxInFlight, 1, `watcher ${n}: one handler call at a time`);
      t.same(rec.resyncs, [], `watcher ${n}: resumed from the log, no re-list`);
      const lateFailed = [...failed.keys()].filter((v) => (counts.get(v) ?? 0) > 0).length;
      t.comment(`watcher ${n}: ${expected.length} writes, caught up ${ms} ms after the writers finished; ${lateFailed} of the failed writes seen`);
    }
  });

  t.test('FLUSHALL: every watcher re-lists within 1 s and converges to what is there', async (t) => {
    const writer = new RedisStore({ url: redis.url });
    const watcherStore = new RedisStore({ url: redis.url, watchBackoff: fastRetry });
    t.teardown(async () => {
      await writer.close();
      await watcherStore.close();
    });
    const p = uniquePrefix('flushall');
    for (const k of ['a/1', 'a/2', 'b/1']) await writer.put(`${p}${k}`, 'old');
    const prefixes = [`${p}a/`, p];
    const recs = prefixes.map(() => new Recorder());
    for (const [i, prefix] of prefixes.entries()) await watcherStore.watch(prefix, await watcherStore.list(prefix), recs[i] as Recorder);
    await writer.put(`${p}a/3`, 'before');
    for (const rec of recs) await rec.waitForKey(`${p}a/3`);

    await redis.flushAll();
    const flushedAt = Date.now();
    await writer.put(`${p}a/4`, 'after the flush');
    const resyncMs = await Promise.all(recs.map((rec, i) => eventually(`watcher ${i} to resync`, 5000, () => rec.resyncs.length > 0)));
    t.comment(`onResync ${resyncMs.join(' / ')} ms after FLUSHALL; reason: ${recs[0]?.resyncs[0]}`);
    t.ok(resyncMs.every((ms) => ms <= 1000), 'every watcher re-listed within 1 s');
    await writer.put(`${p}a/5`, 'live');
    for (const [i, prefix] of prefixes.entries()) {
      const rec = recs[i] as Recorder;
      await eventually(`watcher ${i} to converge`, 5000, async () => sameMap(view(rec.events), asMap((await writer.list(prefix)).items)));
      const v = view(rec.events);
      t.same([...v.keys()].sort(), [`${p}a/4`, `${p}a/5`], `watcher ${i}: what was written after the flush arrived, what was lost is gone`);
      t.ok(rec.events.some((e) => e.type === 'delete' && e.key === `${p}a/1`), `watcher ${i}: a lost key arrives as a delete`);
      rec.checkNoDuplicates(t);
      t.equal(rec.resyncs.length, 1, `watcher ${i}: one resync`);
    }
  });

  t.test('a restart from older data (a backup restored): watchers re-list, revisions never come back', async (t) => {
    const writer = new RedisStore({ url: redis.url });
    const watcherStore = new RedisStore({ url: redis.url, watchBackoff: fastRetry });
    t.teardown(async () => {
      await writer.close();
      await watcherStore.close();
    });
    const p = uniquePrefix('backup');
    await writer.put(`${p}kept`, '1');
    const rec = new Recorder();
    await watcherStore.watch(p, await watcherStore.list(p), rec);
    await redis.stop();
    const data = join(redis.dataDir, 'data');
    const backup = join(redis.dataDir, 'backup');
    await cp(data, backup, { recursive: true });
    await redis.start();
    await writer.put(`${p}kept`, '2');
    const lastSeen = await writer.put(`${p}lost`, '1');
    await rec.waitForKey(`${p}lost`);

    // Same epoch, older revision: the history the watcher followed is gone.
    await redis.stop();
    await rm(data, { recursive: true });
    await cp(backup, data, { recursive: true });
    await redis.start();
    const restartedAt = Date.now();
    await eventually('the watcher to re-list', 5000, () => rec.resyncs.length > 0);
    t.comment(`onResync ${Date.now() - restartedAt} ms after the restart; reason: ${rec.resyncs[0]}`);
    const rev = await writer.put(`${p}new`, '1');
    t.ok(rev > lastSeen, `revisions go on above the lost ones (${rev} > ${lastSeen})`);
    await eventually('the watcher to converge', 5000, async () => sameMap(view(rec.events), asMap((await writer.list(p)).items)));
    t.same([...view(rec.events)], [[`${p}kept`, '1'], [`${p}new`, '1']], 'the lost write arrives as a delete, the reverted one as a put');
    rec.checkNoDuplicates(t);
  });

  t.test('a watcher behind the trimmed log re-lists and gets exactly the difference', async (t) => {
    const port = Number(new URL(redis.url).port);
    const proxy = await TcpProxy.start(port);
    t.teardown(() => proxy.close());
    // The watcher reaches Redis through the proxy; the writer directly, keeping 5 revisions of log.
    const watcherStore = new RedisStore({ url: `redis://127.0.0.1:${new URL(proxy.endpoint).port}/0`, watchBackoff: fastRetry });
    const writer = new RedisStore({ url: redis.url, historyRevisions: 5 });
    t.teardown(async () => {
      await watcherStore.close();
      await writer.close();
    });
    const p = uniquePrefix('trimmed');
    for (const k of ['a', 'b', 'c']) await writer.put(`${p}${k}`, '1');
    const rec = new Recorder();
    const w = await watcherStore.watch(p, await watcherStore.list(p), rec);
    await writer.put(`${p}d`, '1');
    await rec.waitForKey(`${p}d`);
    const position = w.revision;

    proxy.cut();
    // A restart during the gap as well, then the changes the watcher must learn about.
    await redis.stop();
    await redis.start();
    await writer.put(`${p}b`, '2');
    await writer.delete(`${p}a`);
    await writer.put(`${p}e`, '1');
    await writer.put(`${p}f`, 'short-lived');
    await writer.delete(`${p}f`);
    let head = 0;
    for (let i = 0; i < 300; i++) head = await writer.put(`${p.slice(0, -1)}-elsewhere/${i % 10}`, String(i));
    const firstRev = async () => Number((await redis.cli(['XRANGE', '{vx}:log', '-', '+', 'COUNT', '1'])).split('-')[0]);
    await eventually('the reaper to trim the log past the watcher', 5000, async () => (await firstRev()) > position + 1);
    t.comment(`log trimmed: it starts at revision ${await firstRev()}, the watcher is at ${position}, the head at ${head}`);
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
    t.ok(w.revision > head, 'the watch is past the trimmed history');
    await w.close();
  });

  t.test('a new watch from a snapshot older than the trimmed log re-lists instead of replaying', async (t) => {
    const store = new RedisStore({ url: redis.url, historyRevisions: 5 });
    t.teardown(() => store.close());
    const p = uniquePrefix('trimmed-catch-up');
    await store.put(`${p}a`, '1');
    await store.put(`${p}b`, '1');
    const running = new Recorder();
    await store.watch(p, await store.list(p), running);
    const old = await store.list(p);
    await store.put(`${p}a`, '2');
    await store.delete(`${p}b`);
    for (let i = 0; i < 20; i++) await store.put(`${p}c`, String(i));
    await running.waitForCount(22);
    await eventually('the reaper to move the trimmed start past the old snapshot', 5000, async () => Number(await redis.cli(['GET', '{vx}:compacted'])) > old.revision);
    const late = new Recorder();
    await store.watch(p, old, late);
    await eventually('the late watch to re-list', 5000, () => late.resyncs.length > 0);
    await late.waitForCount(3);
    t.same(new Set(late.summary), new Set([`put:${p}a`, `del:${p}b`, `put:${p}c`]), 'the difference, not the history');
    t.match(late.events.find((e) => e.type === 'put' && e.kv.key === `${p}c`), { kv: { value: '19' } }, 'c as it is now');
    t.comment(`late watch resync reason: ${late.resyncs[0]}`);
    t.same(running.resyncs, [], 'the running watch was not disturbed');
  });

  t.test('a write Redis applied but whose answer was lost is re-sent by ioredis and applied once', async (t) => {
    const proxy = await TcpProxy.start(Number(new URL(redis.url).port));
    t.teardown(() => proxy.close());
    const store = new RedisStore({ url: `redis://127.0.0.1:${new URL(proxy.endpoint).port}/0` });
    const other = new RedisStore({ url: redis.url });
    t.teardown(async () => {
      await store.close();
      await other.close();
    });
    const p = uniquePrefix('resend');
    await store.put(`${p}warm`, '1');
    const rec = new Recorder();
    await other.watch(p, await other.list(p), rec);
    proxy.swallowReplies();
    const put = store.put(`${p}k`, 'once');
    const created = store.create(`${p}c`, 'mine');
    await eventually('Redis to apply both', 5000, async () => (await other.get(`${p}k`)) !== undefined && (await other.get(`${p}c`)) !== undefined);
    // The connection drops with both answers lost: ioredis re-sends both on reconnect.
    proxy.cut();
    proxy.restore();
    const rev = await put;
    const create = await created;
    t.match(await other.get(`${p}k`), { value: 'once', version: 1, modRevision: rev }, 'applied once, at the revision its caller was given');
    t.ok(create.created, 'the re-sent create reports its own win, not a loss to itself');
    await rec.waitForCount(2);
    await sleep(200);
    t.same(rec.summary, [`put:${p}k`, `put:${p}c`], 'one change each in the log');
  });

  t.test('a write that timed out while Redis was away is not sent when it comes back', async (t) => {
    const store = new RedisStore({ url: redis.url, requestTimeoutMs: 300 });
    t.teardown(() => store.close());
    const p = uniquePrefix('late');
    await store.put(`${p}warm`, '1');
    await redis.stop();
    await t.rejects(store.put(`${p}k`, 'late'), { code: 'VXNET_STORE_UNAVAILABLE', message: /no answer within 300 ms/ });
    await redis.start();
    await eventually('the store to reconnect', 5000, async () => {
      try {
        await store.put(`${p}after`, '1');
        return true;
      } catch {
        return false;
      }
    });
    t.equal(await store.get(`${p}k`), undefined, 'the caller was told it failed: it was not applied behind its back');
  });

  t.test('keys of a SIGKILLed lease holder vanish within TTL + 0.5 s', async (t) => {
    const store = new RedisStore({ url: redis.url });
    t.teardown(() => store.close());
    const key = `${uniquePrefix('sigkill')}holder`;
    const ttl = 2;
    const holder = await startHolder(t, redis.url, key, ttl);
    t.match(await store.get(key), { value: String(holder.pid), lease: holder.leaseId }, 'the holder wrote its key, bound to its lease');
    const exited = new Promise<void>((resolve) => holder.child.once('exit', () => resolve()));
    process.kill(holder.pid, 'SIGKILL');
    const killedAt = Date.now();
    await exited;
    await eventually('the key to vanish', 15_000, async () => (await store.get(key)) === undefined);
    const elapsed = Date.now() - killedAt;
    t.comment(`key vanished ${elapsed} ms after SIGKILL (TTL ${ttl} s)`);
    t.ok(elapsed <= ttl * 1000 + 500, `vanished within TTL + 0.5 s (${elapsed} ms)`);
  });

  t.test('a lease holder paused past its TTL (SIGSTOP) is told its lease was lost when it resumes', async (t) => {
    const store = new RedisStore({ url: redis.url });
    t.teardown(() => store.close());
    const key = `${uniquePrefix('sigstop')}holder`;
    const ttl = 2;
    const holder = await startHolder(t, redis.url, key, ttl);
    process.kill(holder.pid, 'SIGSTOP');
    const stoppedAt = Date.now();
    await eventually('the paused holder\'s key to be reaped', 10_000, async () => (await store.get(key)) === undefined);
    t.comment(`key reaped ${Date.now() - stoppedAt} ms after SIGSTOP`);
    await sleep(500);
    t.notMatch(holder.output(), /lost/, 'nothing said while paused');
    process.kill(holder.pid, 'SIGCONT');
    const resumedAt = Date.now();
    await eventually('the holder to report the loss', 5000, () => holder.output().includes('lost'));
    t.comment(`onLost ${Date.now() - resumedAt} ms after SIGCONT (paused ${resumedAt - stoppedAt} ms): ${/lost (.*)/.exec(holder.output())?.[1]}`);
    t.pass('onLost fired after the resume');
  });

  t.test('two clients racing create-if-absent: one winner per round, losers see it', async (t) => {
    const s1 = new RedisStore({ url: redis.url });
    const s2 = new RedisStore({ url: redis.url });
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
