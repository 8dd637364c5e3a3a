/**
 * The topology page in headless Chromium (Debian's, driven by playwright-core) with
 * 200 containers on 3 hosts:
 *   - first render: navigation start to the graph drawn (the page's own
 *     performance.now() at the end of its first render), fresh page each trial
 *   - update: one endpoint written to etcd (as an agent does) to the page showing it
 *     (store write + watch + event stream + apply + redraw; the page is polled every
 *     frame), alternately an add and a remove; and the page's own redraw time
 *
 * The records are written to a real etcd on loopback the way agents write them; the
 * page is served by the controller's UI app (buildUi) on loopback, with the sign-in
 * cookie. No lab: this measures the page and its feed, not agents.
 *
 *   node bench/dist/topology.js [trials]      (default 20 updates, 5 first renders)
 *
 * Goals (issue 14): first render < 2 s, an update < 200 ms. Writes bench/results/topology.md.
 */
import { existsSync, readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { chromium } from 'playwright-core';
import { keys, silentLogger, type EndpointRecord, type HostRecord, type NetworkSpec, type SubnetLease, type Store } from '@vxnet/common';
import { etcdMissing, startTestStore } from '@vxnet/common/testing';
import { buildUi } from '@vxnet/controller';
import { ms, summarize, writeReport } from './lib/stats.js';

const TRIALS = Number(process.argv[2] ?? 20);
const RENDERS = 5;
const HOSTS = 3;
const CONTAINERS = 200;
const CHROMIUM = '/usr/bin/chromium';
const FLAGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const TOKEN = randomBytes(24).toString('hex');

/** The page's read-only view (ui/app.js). */
interface Graph {
  vxnetGraph?: { nodes(): Array<{ id: string; kind: string }>; timings: { firstRenderMs: number | null; lastRenderMs: number | null } };
}

const now = () => new Date().toISOString();
const later = new Date(Date.now() + 24 * 3600_000).toISOString();
const mac = (i: number) => `02:42:0a:3d:${((i >> 8) & 255).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}`;

function endpoint(netId: string, i: number, host: number): EndpointRecord {
  return {
    id: randomBytes(32).toString('hex'), networkId: netId, name: `c${i}`, aliases: [], ip: `10.61.${host}.${(i % 250) + 2}`, mac: mac(i), host: `h${host}`,
    container: randomBytes(32).toString('hex'), createdAt: now(),
  };
}

async function seed(store: Store, k: ReturnType<typeof keys>): Promise<string> {
  const netId = randomBytes(32).toString('hex');
  const net: NetworkSpec = {
    id: netId, name: 'bench', driver: 'overlay', subnet: '10.61.0.0/16', hostSubnetLength: 24, vni: 4242, mtu: null, internal: false, labels: {}, options: {}, createdAt: now(),
  };
  await store.put(k.network(netId), JSON.stringify(net));
  for (let h = 1; h <= HOSTS; h++) {
    const host: HostRecord = {
      name: `h${h}`, underlayIp: `192.0.2.${h}`, underlayInterface: 'eth0', agentVersion: '0.1.0', networks: [netId], routes: [], registeredAt: now(), lastSeen: now(),
    };
    await store.put(k.host(host.name), JSON.stringify(host));
    await store.put(k.hostAlive(host.name), JSON.stringify({ name: host.name, underlayIp: host.underlayIp, since: now() }));
    const lease: SubnetLease = {
      networkId: netId, subnet: `10.61.${h}.0/24`, host: host.name, underlayIp: host.underlayIp, vtepMac: mac(1000 + h), acquiredAt: now(), renewedAt: now(), expiresAt: later,
    };
    await store.put(k.lease(netId, lease.subnet), JSON.stringify(lease));
  }
  for (let i = 0; i < CONTAINERS; i++) {
    const e = endpoint(netId, i, (i % HOSTS) + 1);
    await store.put(k.endpoint(netId, e.id), JSON.stringify(e));
  }
  return netId;
}

async function main(): Promise<void> {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is absent: bash scripts/install-chromium.sh`);
  const missing = etcdMissing();
  if (missing) throw new Error(missing);
  const etcd = await startTestStore('etcd', 'vxnet-bench-topology');
  const store = await etcd.open();
  const writer = await etcd.open();
  const k = keys(`/bench-${randomBytes(4).toString('hex')}/`);
  const app = await buildUi({ store, keys: k, logger: silentLogger(), token: TOKEN });
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: FLAGS });
  try {
    const netId = await seed(writer, k);
    await app.listen({ host: '127.0.0.1', port: 0 });
    const base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
    const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
    const login = await context.request.post(`${base}/api/login`, { data: { token: TOKEN } });
    if (login.status() !== 204) throw new Error(`sign-in: HTTP ${login.status()}`);
    const errors: string[] = [];

    const firstRenders: number[] = [];
    for (let i = 0; i < RENDERS; i++) {
      const page = await context.newPage();
      page.on('pageerror', (e) => errors.push(e.message));
      await page.goto(`${base}/ui/`);
      await page.waitForFunction(() => (globalThis as unknown as Graph).vxnetGraph?.timings.firstRenderMs != null, undefined, { timeout: 10_000 });
      const n = await page.evaluate(() => (globalThis as unknown as Graph).vxnetGraph!.nodes().filter((x) => x.kind === 'container').length);
      if (n !== CONTAINERS) throw new Error(`first render shows ${n} containers, want ${CONTAINERS}`);
      firstRenders.push(await page.evaluate(() => (globalThis as unknown as Graph).vxnetGraph!.timings.firstRenderMs!));
      await page.close();
    }

    const page = await context.newPage();
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${base}/ui/`);
    await page.waitForFunction(() => ((globalThis as unknown as Graph).vxnetGraph?.nodes().length ?? 0) > 200, undefined, { timeout: 10_000 });
    const updates: number[] = [];
    const redraws: number[] = [];
    for (let i = 0; i < TRIALS; i++) {
      const e = endpoint(netId, CONTAINERS + i, (i % HOSTS) + 1);
      const id = `ctr:${e.host}:${e.container}`;
      for (const op of ['add', 'remove'] as const) {
        const t0 = performance.now();
        if (op === 'add') await writer.put(k.endpoint(netId, e.id), JSON.stringify(e));
        else await writer.delete(k.endpoint(netId, e.id));
        await page.waitForFunction(({ id: want, add }) => (globalThis as unknown as Graph).vxnetGraph!.nodes().some((x) => x.id === want) === add, { id, add: op === 'add' }, { timeout: 5000, polling: 'raf' });
        updates.push(performance.now() - t0);
        redraws.push(await page.evaluate(() => (globalThis as unknown as Graph).vxnetGraph!.timings.lastRenderMs!));
      }
    }
    if (errors.length) throw new Error(`page errors: ${errors.join('; ')}`);

    const fr = summarize(firstRenders);
    const up = summarize(updates);
    const rd = summarize(redraws);
    const md = [
      '# Topology page: first render and live updates',
      '',
      `\`node bench/dist/topology.js ${TRIALS}\` — ${new Date().toISOString().slice(0, 10)}, Debian chromium (headless, playwright-core ${(JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { devDependencies: Record<string, string> }).devDependencies['playwright-core']}), ${browser.version()}, real etcd on loopback, ${CONTAINERS} containers on ${HOSTS} hosts, 1 network; 2 cores.`,
      '',
      '| measure | samples | p50 ms | p99 ms | max ms | goal |',
      '|---|---|---|---|---|---|',
      `| first render (navigation start to graph drawn) | ${firstRenders.length} | ${ms(fr.p50)} | ${ms(fr.p99)} | ${ms(Math.max(...firstRenders))} | < 2000 |`,
      `| update (etcd write to the page showing it; add or remove one container) | ${updates.length} | ${ms(up.p50)} | ${ms(up.p99)} | ${ms(Math.max(...updates))} | < 200 |`,
      `| of which the page's redraw | ${redraws.length} | ${ms(rd.p50)} | ${ms(rd.p99)} | ${ms(Math.max(...redraws))} | |`,
      '',
      'Update = store write acknowledged + controller watch + server-sent event + the shared reducer + an incremental cytoscape update, seen by a requestAnimationFrame poll (so up to one frame of measurement slack).',
      '',
    ].join('\n');
    console.log(md);
    writeReport('topology', md);
  } finally {
    await browser.close();
    await app.close();
    await store.close();
    await writer.close();
    await etcd.destroy();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
