/**
 * EtcdStore against the raw etcd3 client it wraps, in one process and one run, on an
 * etcd this script starts on loopback: p50/p99 latency of create-if-absent,
 * compare-and-put and watch delivery (put issued -> handler called), and the ratio
 * ours/raw. Ours and raw alternate op by op so drift hits both alike.
 *
 *   node bench/dist/store.js [ops]       (default 2000 ops per operation and client)
 *
 * Prints a markdown table and writes it to bench/results/store.md.
 */
import { execFileSync } from 'node:child_process';
import { Etcd3 } from 'etcd3';
import { type WatchEvent } from '@vxnet/common';
import { EtcdStore } from '@vxnet/common/etcd';
import { startTestEtcd } from '@vxnet/common/testing';
import { ms as fmt, summarize, time, writeReport } from './lib/stats.js';

const OPS = Number(process.argv[2] ?? 2000);
const WARMUP = 200;

/** Run `ours` and `raw` alternately, `WARMUP` untimed then `OPS` timed rounds each. */
async function pair(ours: (i: number) => Promise<unknown>, raw: (i: number) => Promise<unknown>): Promise<{ ours: number[]; raw: number[] }> {
  const out = { ours: [] as number[], raw: [] as number[] };
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

async function main(): Promise<void> {
  const etcd = await startTestEtcd('vxnet-bench');
  const store = new EtcdStore({ endpoints: [etcd.endpoint] });
  const raw = new Etcd3({ hosts: [etcd.endpoint] });
  try {
    const p = `/vxnet-bench/${process.pid}/`;

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
    const w = await store.watch(`${p}watch/ours/`, await store.list(`${p}watch/ours/`), {
      onEvents: (events: WatchEvent[]) => {
        for (const e of events) if (e.type === 'put') oursSeen.deliver(e.kv.key);
      },
    });
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

    const rows = [
      ['create-if-absent', create],
      ['compare-and-put', cas],
      ['watch delivery (put → handler)', watch],
    ] as const;
    const lines = [
      '| operation | ours p50 (ms) | ours p99 (ms) | raw etcd3 p50 (ms) | raw etcd3 p99 (ms) | ours/raw p50 | ours/raw p99 |',
      '|---|---:|---:|---:|---:|---:|---:|',
    ];
    for (const [name, r] of rows) {
      const { p50: o50, p99: o99 } = summarize(r.ours);
      const { p50: x50, p99: x99 } = summarize(r.raw);
      lines.push(`| ${name} | ${fmt(o50)} | ${fmt(o99)} | ${fmt(x50)} | ${fmt(x99)} | ${(o50 / x50).toFixed(2)} | ${(o99 / x99).toFixed(2)} |`);
    }
    const table = lines.join('\n');
    const etcdVersion = execFileSync('etcd', ['--version'], { encoding: 'utf8' }).split('\n')[0] ?? 'etcd ?';
    const report = [
      '# Store latency: EtcdStore vs the raw etcd3 client',
      '',
      `Command: \`node bench/dist/store.js${process.argv[2] ? ` ${process.argv[2]}` : ''}\` (after \`npx tsc -b\`)`,
      `Date: ${new Date().toISOString()}`,
      `Setup: ${etcdVersion} (single member, loopback, fresh data dir), etcd3 1.1.2, Node ${process.version}; ` +
        `${OPS} timed ops per operation and client after ${WARMUP} warm-up, ours and raw alternating op by op, one at a time.`,
      '',
      table,
      '',
    ].join('\n');
    console.log(table);
    writeReport('store', report);
  } finally {
    await store.close();
    raw.close();
    await etcd.destroy();
  }
}

await main();
