import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { isAlive, spawnDaemon, stopProcess } from '../../src/process.js';
import { waitRedisReady } from '../../src/redis-server.js';
import { RedisStore } from '../../src/store/redis-store.js';
import { freePort } from '../../src/testing/etcd.js';
import { redisMissing, startTestRedis } from '../../src/testing/redis.js';
import { Recorder, eventKey, storeConformance, uniquePrefix } from '../helpers/store-conformance.js';

const missing = redisMissing();
if (missing !== undefined) {
  t.plan(0, `skipped: ${missing}`);
} else {
  const redis = await startTestRedis('vxnet-conformance');
  t.teardown(() => redis.destroy());
  storeConformance(t, async () => ({
    store: new RedisStore({ url: redis.url }),
    elapse: (ms) => new Promise((r) => setTimeout(r, ms)),
  }));

  t.test("a key's lease is whatever its last write said", async (t) => {
    const store = new RedisStore({ url: redis.url });
    t.teardown(() => store.close());
    const p = uniquePrefix('rebind');
    const a = await store.grantLease(2);
    const b = await store.grantLease(2);
    await store.put(`${p}k`, '1', { lease: a.id });
    await store.put(`${p}k`, '2', { lease: b.id });
    await store.put(`${p}free`, '1', { lease: a.id });
    await store.put(`${p}free`, '2');
    t.equal((await store.get(`${p}k`))?.lease, b.id, 're-put with another lease: bound to that one');
    t.equal((await store.get(`${p}free`))?.lease, undefined, 're-put without a lease: bound to none');
    await a.revoke();
    t.same((await store.list(p)).items.map((kv) => kv.key), [`${p}free`, `${p}k`], "revoking the first lease deletes neither");
    const cas = await store.compareAndPut(`${p}k`, '3', (await store.get(`${p}k`))?.modRevision ?? -1);
    t.ok(cas.ok);
    await b.revoke();
    t.same((await store.list(p)).items.map((kv) => kv.key), [`${p}free`, `${p}k`], 'nor the second, once a compare-and-put dropped it');
  });

  t.test('a revision bigger than one read (deletePrefix of 2,500 keys) arrives whole, live and caught up', async (t) => {
    const store = new RedisStore({ url: redis.url });
    t.teardown(() => store.close());
    const p = uniquePrefix('big-revision');
    for (let i = 0; i < 2500; i += 250) {
      await Promise.all(Array.from({ length: 250 }, (_, j) => store.put(`${p}k${String(i + j).padStart(4, '0')}`, '1')));
    }
    const before = await store.list(p);
    const live = new Recorder();
    await store.watch(p, before, live);
    t.equal(await store.deletePrefix(p), 2500);
    await live.waitForCount(2500);
    t.equal(live.batches.length, 1, 'one handler call: the revision was held back until whole');
    t.equal(new Set(live.events.map((e) => (e.type === 'delete' ? e.revision : -1))).size, 1, 'every delete at one revision');
    t.same(live.events.map((e) => eventKey(e)), before.items.map((kv) => kv.key), 'in key order');
    // A second watch from the same snapshot joins the running reader: it reads the range itself.
    const late = new Recorder();
    await store.watch(p, before, late);
    await late.waitForCount(2500);
    t.equal(late.batches.length, 1, 'caught up in one call too');
    await store.put(`${p}after`, '1');
    await live.waitForKey(`${p}after`);
    await late.waitForKey(`${p}after`);
    live.checkNoDuplicates(t);
    late.checkNoDuplicates(t);
  });

  t.test('a URL with credentials is refused', async (t) => {
    const port = new URL(redis.url).port;
    for (const url of [`redis://:hunter2@127.0.0.1:${port}/0`, `redis://alice:hunter2@127.0.0.1:${port}/0`]) {
      t.throws(() => new RedisStore({ url }), { code: 'VXNET_INVALID_ARGUMENT', message: /`password` option/ }, 'refused, pointing at the option');
      try {
        new RedisStore({ url });
      } catch (err) {
        t.notMatch((err as Error).message, /hunter2/, 'the message does not repeat the secret');
      }
    }
    t.throws(() => new RedisStore({ url: `http://127.0.0.1:${port}` }), { code: 'VXNET_INVALID_ARGUMENT' }, 'another scheme is refused');
    t.throws(() => new RedisStore({ url: `redis://127.0.0.1:${port}/x` }), { code: 'VXNET_INVALID_ARGUMENT' }, 'a path that is not a db number is refused');
    t.throws(() => new RedisStore({ url: redis.url, tls: { ca: 'x' } }), { code: 'VXNET_INVALID_ARGUMENT' }, 'TLS options need rediss://');
  });

  t.test('durability warnings name the setting', async (t) => {
    const store = new RedisStore({ url: redis.url });
    t.teardown(() => store.close());
    t.same(await store.durabilityWarnings(), [], 'none with appendonly yes + appendfsync always');
    t.teardown(() => redis.cli(['CONFIG', 'SET', 'appendfsync', 'always']));
    t.equal(await redis.cli(['CONFIG', 'SET', 'appendfsync', 'everysec']), 'OK');
    const everysec = await store.durabilityWarnings();
    t.match(everysec, [/appendfsync is everysec.*up to 1 s of acknowledged writes/], 'everysec: up to 1 s lost');
    t.comment(everysec[0] ?? '');

    // A server started the Debian way: no AOF at all.
    const dir = await mkdtemp(join(tmpdir(), 'vxnet-test-redis-plain-'));
    const port = await freePort();
    const plain = spawnDaemon({ command: 'redis-server', args: ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', ''], logFile: join(dir, 'redis.log') });
    t.teardown(async () => {
      await stopProcess(plain);
      await rm(dir, { recursive: true, force: true });
    });
    await waitRedisReady(`redis://127.0.0.1:${port}`, { isAlive: () => isAlive(plain) });
    const other = new RedisStore({ url: `redis://127.0.0.1:${port}/0` });
    t.teardown(() => other.close());
    const warnings = await other.durabilityWarnings();
    t.match(warnings, [/appendonly is "no".*a Redis crash or restart loses acknowledged writes; set appendonly yes/], 'a server without appendonly: named, with the fix');
    t.comment(warnings[0] ?? '');
  });

  t.test('durability warnings when CONFIG is refused', async (t) => {
    t.equal(await redis.cli(['ACL', 'SETUSER', 'noconfig', 'on', '>pw-noconfig', '~*', '&*', '+@all', '-config']), 'OK');
    t.teardown(() => redis.cli(['ACL', 'DELUSER', 'noconfig']));
    const store = new RedisStore({ url: redis.url, username: 'noconfig', password: 'pw-noconfig' });
    t.teardown(() => store.close());
    await store.put('/vxnet-test/acl-user', '1');
    t.pass('an ACL user (username + password) can use the store');
    t.match(await store.durabilityWarnings(), [/could not check the durability settings.*NOPERM/], 'says it could not check, and why');
  });

  t.test('password auth', async (t) => {
    const secured = await startTestRedis('vxnet-auth', { password: 'correct horse "battery" \\ staple' });
    t.teardown(() => secured.destroy());
    const good = new RedisStore({ url: secured.url, password: 'correct horse "battery" \\ staple' });
    t.teardown(() => good.close());
    const rev = await good.put('/vxnet-test/auth', 'ok');
    t.ok(rev > 0, 'the right password works');
    const bad = new RedisStore({ url: secured.url, password: 'wrong', requestTimeoutMs: 2000 });
    t.teardown(() => bad.close());
    await t.rejects(bad.get('/vxnet-test/auth'), { code: 'VXNET_STORE_UNAVAILABLE', message: /WRONGPASS.*password/ }, 'a wrong password is refused, saying so');
    const none = new RedisStore({ url: secured.url, requestTimeoutMs: 2000 });
    t.teardown(() => none.close());
    await t.rejects(none.get('/vxnet-test/auth'), { code: 'VXNET_STORE_UNAVAILABLE', message: /NOAUTH/ }, 'no password is refused, saying so');
  });

  t.test('a server that is not there: StoreUnavailable after the request timeout, with the reason', async (t) => {
    const store = new RedisStore({ url: `redis://127.0.0.1:${await freePort()}/0`, requestTimeoutMs: 500 });
    t.teardown(() => store.close());
    const t0 = Date.now();
    await t.rejects(store.put('/vxnet-test/nowhere', '1'), { code: 'VXNET_STORE_UNAVAILABLE', message: /no answer within 500 ms.*ECONNREFUSED/ });
    t.comment(`rejected after ${Date.now() - t0} ms`);
  });
}
