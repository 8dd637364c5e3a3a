/**
 * Peer convergence in a 3-host lab: from a new host's subnet lease appearing in the
 * store (with its liveness key) to the route, neighbour and FDB entries for it being
 * programmed on every host of the network; then from its liveness key going to the
 * entries being gone everywhere. 50 trials each.
 *
 *   node bench/dist/agent-convergence.js [trials]     (root; after npm run build)
 *
 * The outer run brings up the lab; the inner run executes inside the lab's etcd
 * namespace (it needs the store), writes the records, and watches each host's kernel
 * through the agent's own netlink data plane (listPeers), polling every 2 ms.
 * Baseline, same run: a put followed by a get on the same store (one round trip each).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { keys, type SubnetLease } from '@vxnet/common';
import { EtcdStore } from '@vxnet/common/etcd';
import { NetlinkDataPlane } from '@vxnet/agent';
import { unixJson } from '@vxnet/common/testing';
import { ms, summarize, time, writeReport } from './lib/stats.js';

const SELF = fileURLToPath(import.meta.url);
const VXNET = fileURLToPath(new URL('../../packages/cli/bin/vxnet.js', import.meta.url));

interface Inner { trials: number; netId: string; netnses: string[]; endpoint: string; /** The lab's CA and admin client certificate, PEM file paths (the lab's etcd is TLS only). */ tls?: { ca: string; cert: string; key: string } }

async function inner(cfg: Inner): Promise<void> {
  const store = new EtcdStore({
    endpoints: [cfg.endpoint],
    ...(cfg.tls ? { tls: { ca: readFileSync(cfg.tls.ca, 'utf8'), cert: readFileSync(cfg.tls.cert, 'utf8'), key: readFileSync(cfg.tls.key, 'utf8') } } : {}),
  });
  const dp = new NetlinkDataPlane();
  const k = keys();
  const liveness = await store.grantLease(30);
  const programmedEverywhere = async (subnet: string, present: boolean) => {
    for (const ns of cfg.netnses) {
      const has = (await dp.listPeers(ns)).some((p) => p.subnet === subnet);
      if (has !== present) return false;
    }
    return true;
  };
  // fake peers take subnets no real host holds (leasing them over a real host's record would break the lab)
  const taken = new Set((await store.list(k.networkLeases(cfg.netId))).items.map((kv) => (JSON.parse(kv.value) as SubnetLease).subnet));
  const free = Array.from({ length: 256 }, (_, i) => `10.128.${i}.0/24`).filter((s) => !taken.has(s));
  const add: number[] = [];
  const remove: number[] = [];
  const base: number[] = [];
  try {
    for (let i = 0; i < cfg.trials; i++) {
      base.push(await time(async () => {
        await store.put('/bench/baseline', String(i));
        await store.get('/bench/baseline');
      }));
      const host = `peer${i}`;
      const subnet = free[i % free.length] as string;
      const now = new Date().toISOString();
      const rec: SubnetLease = {
        networkId: cfg.netId, subnet, host, underlayIp: `192.0.2.${100 + (i % 50)}`, vtepMac: `02:aa:00:00:00:${(i % 256).toString(16).padStart(2, '0')}`,
        acquiredAt: now, renewedAt: now, expiresAt: new Date(Date.now() + 3600_000).toISOString(),
      };
      const t0 = performance.now();
      await store.put(k.hostAlive(host), JSON.stringify({ name: host, underlayIp: rec.underlayIp, since: now }), { lease: liveness.id });
      await store.put(k.lease(cfg.netId, subnet), JSON.stringify(rec));
      while (!(await programmedEverywhere(subnet, true))) await sleep(2);
      add.push(performance.now() - t0);

      const t1 = performance.now();
      await store.delete(k.hostAlive(host));
      while (!(await programmedEverywhere(subnet, false))) await sleep(2);
      remove.push(performance.now() - t1);
      await store.delete(k.lease(cfg.netId, subnet));
    }
  } finally {
    await liveness.revoke();
    dp.close();
    await store.close();
  }
  const a = summarize(add);
  const r = summarize(remove);
  const b = summarize(base);
  const table = [
    '| event | trials | p50 (ms) | p99 (ms) | baseline p50 (ms) | p50 / baseline |',
    '|---|---:|---:|---:|---:|---:|',
    `| peer lease + liveness written → programmed on all 3 hosts | ${cfg.trials} | ${ms(a.p50)} | ${ms(a.p99)} | ${ms(b.p50)} | ${(a.p50 / b.p50).toFixed(1)} |`,
    `| peer liveness deleted → entries gone on all 3 hosts | ${cfg.trials} | ${ms(r.p50)} | ${ms(r.p99)} | ${ms(b.p50)} | ${(r.p50 / b.p50).toFixed(1)} |`,
  ].join('\n');
  console.log(table);
  writeReport('agent-convergence', [
    '# Agent peer convergence',
    '',
    `Command: \`node bench/dist/agent-convergence.js${process.argv[2] && !process.argv[2].startsWith('--') ? ` ${process.argv[2]}` : ''}\` (root; after \`npm run build\`)`,
    `Date: ${new Date().toISOString()}`,
    `Setup: a 3-host lab, one network joined by all 3 hosts (an endpoint each); the bench writes a fake peer's liveness key and subnet lease to the lab's etcd and polls every host's network namespace through netlink every 2 ms (so times include up to ~2 ms of polling). Baseline: one put + one get on the same store, same run. Goal: p99 under 200 ms.`,
    '',
    table,
    '',
  ].join('\n'));
}

async function outer(trials: number): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('this benchmark runs in a lab and needs root');
  const home = mkdtempSync(join(tmpdir(), 'vxnet-bench-conv-'));
  const env = { ...process.env, VXNET_HOME: home };
  const lab = `conv-${process.pid.toString(36)}`;
  const vx = (...args: string[]) => execFileSync(process.execPath, [VXNET, ...args], { env, encoding: 'utf8' });
  try {
    vx('lab', 'up', '--name', lab, '--hosts', '3');
    const state = JSON.parse(readFileSync(join(home, 'labs', lab, 'lab.json'), 'utf8'));
    const netId = vx('net', 'create', 'bench1').trim();
    const netnses: string[] = [];
    for (const h of state.hosts as Array<{ name: string; keeper: { pid: number }; agent: { socket: string } }>) {
      // a sandbox inside the host's machine (its own /run/netns), where the agent sees it
      execFileSync('nsenter', [`--mount=/proc/${h.keeper.pid}/ns/mnt`, '--', 'ip', 'netns', 'add', 'sb-bench']);
      const r = await unixJson(h.agent.socket, 'POST', '/v1/endpoints', { network: 'bench1', sandbox: '/run/netns/sb-bench', name: `b-${h.name}` });
      if (r.status !== 201) throw new Error(`endpoint on ${h.name}: ${JSON.stringify(r.body)}`);
      // the agent's namespace for the network, reached from outside the machine through its keeper's root
      netnses.push(`/proc/${h.keeper.pid}/root/run/netns/vxnet-${netId.slice(0, 12)}`);
    }
    const pki = state.pki as { ca: string; clients: Record<string, { cert: string; key: string }> } | undefined;
    const admin = pki?.clients.admin;
    const cfg: Inner = {
      trials, netId, netnses, endpoint: `${pki ? 'https' : 'http'}://127.0.0.1:2379`,
      ...(pki && admin ? { tls: { ca: pki.ca, cert: admin.cert, key: admin.key } } : {}),
    };
    const r = spawnSync('nsenter', [`--net=/run/netns/${state.store.netns}`, '--', process.execPath, SELF, '--inner', JSON.stringify(cfg)], { stdio: 'inherit' });
    if (r.status !== 0) throw new Error(`inner run failed (${r.status})`);
  } finally {
    try {
      vx('lab', 'down', '--name', lab);
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  }
}

if (process.argv[2] === '--inner') await inner(JSON.parse(process.argv[3] as string) as Inner);
else await outer(Number(process.argv[2] ?? 50));
