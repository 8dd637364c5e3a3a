/**
 * The two stores against the raw clients they wrap, in one process and one run, on an
 * etcd and a Redis this script starts on loopback: p50/p99 latency of
 * create-if-absent, compare-and-put and watch delivery (put issued -> handler called).
 *
 *   EtcdStore  vs raw etcd3:   the same transactions, written by hand
 *   RedisStore vs raw ioredis: the same Lua scripts (same round trips), called directly
 *
 * Ours and raw alternate op by op so drift hits both alike. Goals (issue 9):
 * RedisStore within 1.2x of raw ioredis (p50), and RedisStore's watch delivery p99 no
 * worse than EtcdStore's. Redis runs as vxnet asks a site to run it: appendonly yes,
 * appendfsync always (every write waits for an fsync, as etcd's do).
 *
 *   node bench/dist/store.js [ops]       (default 2000 ops per operation and client)
 *
 * Prints a markdown table and writes it to bench/results/store.md.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { Etcd3 } from 'etcd3';
import { Redis } from 'ioredis';
import type { Store, WatchEvent } from '@vxnet/common';
import { EtcdStore } from '@vxnet/common/etcd';
import { LOG_KEY, RedisStore, defineScripts, runScript } from '@vxnet/common/redis';
import { startTestEtcd, startTestRedis } from '@vxnet/common/testing';
import { ms as fmt, summarize, time, writeReport } from './lib/stats.js';

const OPS = Number(process.argv[2] ?? 2000);
const WARMUP = 200;
/** How long a raw script call asks Redis to remember its op id (RedisStore: at least 60 s). */
const OP_TTL_MS = 60_000;

interface Pair {
  ours: number[];
  raw: number[];
}

/** Run `ours` and `raw` alternately, `WARMUP` untimed then `OPS` timed rounds each. */
async function pair(ours: (i: number) => Promise<unknown>, raw: (i: number) => Promise<unknown>): Promise<Pair> {
  const out: Pair = { ours: [], raw: [] };
  for (let i = 0; i < WARMUP + OPS; i++) {
    const a = await time(() => ours(i));
    const b = await time(() => raw(i));
    if (i >= WARMUP) {
      out.ours.push(a);
      out.raw.push(b);
    }
  }
  return out;
}

/** Resolves when the next watch delivery for `key` arrives. */
class Deliveries {
  private waiting = new Map<string, () => void>();
  expect(key: string): Promise<void> {
    return new Promise((resolve) => this.waiting.set(key, resolve));
  }
  deliver(key: string): void {
    const r = this.waiting.get(key);
    this.waiting.delete(key);
    r?.();
  }
}

/** Watch `prefix` through a Store, resolving deliveries of put keys. */
async function storeWatch(store: Store, prefix: string, seen: Deliveries) {
  return store.watch(prefix, await store.list(prefix), {
    onEvents: (events: WatchEvent[]) => {
      for (const e of events) if (e.type === 'put') seen.deliver(e.kv.key);
    },
  });
}

async function benchEtcd(endpoint: string, p: string): Promise<{ create: Pair; cas: Pair; watch: Pair }> {
  const store = new EtcdStore({ endpoints: [endpoint] });
  const raw = new Etcd3({ hosts: [endpoint] });
  try {
    const create = await pair(
      (i) => store.create(`${p}create/ours/${i}`, 'v'),
      (i) => raw.if(`${p}create/raw/${i}`, 'Create', '==', 0).then(raw.put(`${p}create/raw/${i}`).value('v')).else(raw.get(`${p}create/raw/${i}`)).commit(),
    );
    let oursRev = 0;
    let rawRev = 0;
    const cas = await pair(
      async (i) => {
        const r = await store.compareAndPut(`${p}cas/ours`, String(i), oursRev);
        if (!r.ok) throw new Error('ours: compare-and-put lost against nobody');
        oursRev = r.revision;
      },
      async (i) => {
        const cmp = rawRev === 0 ? raw.if(`${p}cas/raw`, 'Create', '==', 0) : raw.if(`${p}cas/raw`, 'Mod', '==', rawRev);
        const r = await cmp.then(raw.put(`${p}cas/raw`).value(String(i))).else(raw.get(`${p}cas/raw`)).commit();
        if (!r.succeeded) throw new Error('raw: compare-and-put lost against nobody');
        rawRev = Number(r.header.revision);
      },
    );
    const oursSeen = new Deliveries();
    const rawSeen = new Deliveries();
    const w = await storeWatch(store, `${p}watch/ours/`, oursSeen);
    const rw = await raw.watch().prefix(`${p}watch/raw/`).withPreviousKV().create();
    rw.on('put', (kv) => rawSeen.deliver(kv.key.toString()));
    // Both measured from issuing the put (through the raw client) to the handler call.
    const watch = await pair(
      (i) => {
        const seen = oursSeen.expect(`${p}watch/ours/${i}`);
        return raw.put(`${p}watch/ours/${i}`).value('v').then(() => seen);
      },
      (i) => {
        const seen = rawSeen.expect(`${p}watch/raw/${i}`);
        return raw.put(`${p}watch/raw/${i}`).value('v').then(() => seen);
      },
    );
    await w.close();
    await rw.cancel();
    return { create, cas, watch };
  } finally {
    await store.close();
    raw.close();
  }
}

/** XREAD BLOCK on the change log, as RedisStore's reader does, delivering put keys under `prefix`. */
function rawLogReader(port: number, password: string | undefined, prefix: string, seen: Deliveries): { stop: () => void } {
  const conn = new Redis({ host: '127.0.0.1', port, ...(password !== undefined ? { password } : {}), lazyConnect: false });
  let stopped = false;
  void (async () => {
    let last = '$';
    while (!stopped) {
      const res = (await conn.xread('BLOCK', 1000, 'STREAMS', LOG_KEY, last).catch(() => null)) as Array<[string, Array<[string, string[]]>]> | null;
      for (const [, entries] of res ?? []) {
        for (const [id, fields] of entries) {
          last = id;
          const f = new Map<string, string>();
          for (let i = 0; i + 1 < fields.length; i += 2) f.set(fields[i] as string, fields[i + 1] as string);
          const key = f.get('k');
          if (f.get('t') === 'p' && key?.startsWith(prefix)) seen.deliver(key);
        }
      }
    }
  })();
  return {
    stop: () => {
      stopped = true;
      conn.disconnect();
    },
  };
}

async function benchRedis(url: string, port: number, password: string | undefined, p: string): Promise<{ create: Pair; cas: Pair; watch: Pair }> {
  const store = new RedisStore({ url, ...(password !== undefined ? { password } : {}) });
  const raw = new Redis({ host: '127.0.0.1', port, ...(password !== undefined ? { password } : {}) });
  defineScripts(raw);
  const op = () => randomBytes(8).toString('hex');
  try {
    const create = await pair(
      (i) => store.create(`${p}create/ours/${i}`, 'v'),
      (i) => runScript(raw, 'vxCreate', [op(), OP_TTL_MS, `${p}create/raw/${i}`, 'v', '']),
    );
    let oursRev = 0;
    let rawRev = 0;
    const cas = await pair(
      async (i) => {
        const r = await store.compareAndPut(`${p}cas/ours`, String(i), oursRev);
        if (!r.ok) throw new Error('ours: compare-and-put lost against nobody');
        oursRev = r.revision;
      },
      async (i) => {
        const r = (await runScript(raw, 'vxCompareAndPut', [op(), OP_TTL_MS, `${p}cas/raw`, String(i), '', rawRev])) as unknown[];
        if (r[0] !== 1) throw new Error('raw: compare-and-put lost against nobody');
        rawRev = Number(r[1]);
      },
    );
    const oursSeen = new Deliveries();
    const rawSeen = new Deliveries();
    const w = await storeWatch(store, `${p}watch/ours/`, oursSeen);
    const reader = rawLogReader(port, password, `${p}watch/raw/`, rawSeen);
    await new Promise((r) => setTimeout(r, 200)); // the raw reader is blocked on the log's end
    const put = (key: string) => runScript(raw, 'vxPut', [op(), OP_TTL_MS, key, 'v', '']);
    const watch = await pair(
      (i) => {
        const seen = oursSeen.expect(`${p}watch/ours/${i}`);
        return put(`${p}watch/ours/${i}`).then(() => seen);
      },
      (i) => {
        const seen = rawSeen.expect(`${p}watch/raw/${i}`);
        return put(`${p}watch/raw/${i}`).then(() => seen);
      },
    );
    await w.close();
    reader.stop();
    return { create, cas, watch };
  } finally {
    await store.close();
    raw.disconnect();
  }
}

function row(name: string, r: Pair): { line: string; o50: number; o99: number; x50: number; x99: number } {
  const { p50: o50, p99: o99 } = summarize(r.ours);
  const { p50: x50, p99: x99 } = summarize(r.raw);
  return { line: `| ${name} | ${fmt(o50)} | ${fmt(o99)} | ${fmt(x50)} | ${fmt(x99)} | ${(o50 / x50).toFixed(2)} | ${(o99 / x99).toFixed(2)} |`, o50, o99, x50, x99 };
}

async function main(): Promise<void> {
  const etcd = await startTestEtcd('vxnet-bench');
  const redis = await startTestRedis('vxnet-bench');
  try {
    const p = `/vxnet-bench/${process.pid}/`;
    const e = await benchEtcd(etcd.endpoint, p);
    const port = Number(new URL(redis.url).port);
    const r = await benchRedis(redis.url, port, undefined, p);

    const header = [
      '| operation | ours p50 (ms) | ours p99 (ms) | raw p50 (ms) | raw p99 (ms) | ours/raw p50 | ours/raw p99 |',
      '|---|---:|---:|---:|---:|---:|---:|',
    ];
    const etcdRows = [row('create-if-absent', e.create), row('compare-and-put', e.cas), row('watch delivery (put → handler)', e.watch)];
    const redisRows = [row('create-if-absent', r.create), row('compare-and-put', r.cas), row('watch delivery (put → handler)', r.watch)];
    const wrapperWorst = Math.max(...redisRows.map((x) => x.o50 / x.x50));
    const redisWatch99 = redisRows[2]!.o99;
    const etcdWatch99 = etcdRows[2]!.o99;
    const goals = [
      `- RedisStore within 1.2× of raw ioredis doing the same round trips (worst p50 ratio): ${wrapperWorst.toFixed(2)}× — ${wrapperWorst <= 1.2 ? 'met' : 'not met'}`,
      `- RedisStore watch delivery p99 no worse than EtcdStore's: ${fmt(redisWatch99)} ms vs ${fmt(etcdWatch99)} ms — ${redisWatch99 <= etcdWatch99 ? 'met' : 'not met'}`,
    ];
    const tables = [
      '## EtcdStore vs raw etcd3 (the same transactions)', '', ...header, ...etcdRows.map((x) => x.line), '',
      '## RedisStore vs raw ioredis (the same Lua scripts)', '', ...header, ...redisRows.map((x) => x.line), '',
      '## Goals', '', ...goals,
    ].join('\n');
    const etcdVersion = execFileSync('etcd', ['--version'], { encoding: 'utf8' }).split('\n')[0] ?? 'etcd ?';
    const redisVersion = execFileSync('redis-server', ['--version'], { encoding: 'utf8' }).trim().split(' ').slice(0, 3).join(' ');
    const report = [
      '# Store latency: EtcdStore and RedisStore vs the raw clients they wrap',
      '',
      `Command: \`node bench/dist/store.js${process.argv[2] ? ` ${process.argv[2]}` : ''}\` (after \`npx tsc -b\`; also \`npm run bench -- store\`)`,
      `Date: ${new Date().toISOString()}`,
      `Setup: ${etcdVersion} (single member) and ${redisVersion} (appendonly yes, appendfsync always), both on loopback with fresh data dirs; ` +
        `etcd3 1.1.2, ioredis 6.0.0, Node ${process.version}; ${OPS} timed ops per operation and client after ${WARMUP} warm-up, ours and raw alternating op by op, one at a time.`,
      '',
      tables,
      '',
    ].join('\n');
    console.log(tables);
    writeReport('store', report);
  } finally {
    await redis.destroy();
    await etcd.destroy();
  }
}

await main();
