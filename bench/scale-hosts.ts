/**
 * One real vxnet-agent among 5,000 simulated hosts on one network (issue 15, "Scale").
 *
 * A throwaway etcd on loopback holds one network (/11, host subnets /24) and 5,000
 * fake hosts: an alive/<host> key each and a subnet lease with a VTEP MAC and an
 * underlay address (TEST-NET-3, never sent to). The alive keys of 100 of them are
 * bound to an etcd lease of their own (the flap group), everything else to one kept
 * alive by this script. The agent runs as its own process inside a scratch host
 * namespace (veth eth0 = 198.51.100.1/24 as underlay), started through nsenter, and
 * joins the network through one POST /v1/endpoints on its unix socket.
 *
 * Measured, in one run:
 *   1. convergence: from the POST until the network's namespace holds 5,000 routes,
 *      5,000 permanent neighbours and 5,000 FDB entries on vxlan0 (`ip`/`bridge`
 *      counts, polled every 50 ms); VmRSS / VmHWM of the agent then and 5 s later;
 *   2. a liveness flap of 100 hosts at once: the flap lease is revoked (etcd deletes
 *      the 100 alive keys in one revision), then, once the agent has removed them,
 *      100 alive keys are put again at once (100 concurrent puts). For each: time to
 *      the kernel count, and from the agent's own metrics (vxnet_agent_store_watch_*)
 *      and log ("peers removed"/"peers added"): events delivered, resyncs (must stay
 *      0), peers changed (must be 100);
 *   3. baseline: `ip -batch` (routes + neighbours) and `bridge -batch` (FDB) writing
 *      the same 15,000 entries into a fresh namespace with a VXLAN device.
 *
 *   node bench/dist/scale-hosts.js     (needs root, etcd on PATH; VXNET_BENCH_KEEP=DIR keeps the agent's log)
 *
 * Prints a markdown report and writes it to bench/results/scale-hosts.md.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { Etcd3 } from 'etcd3';
import { keys, spawnDaemon, stopProcess, type NetworkSpec, type ProcessRecord, type SubnetLease } from '@vxnet/common';
import { freePort, startTestEtcd, unixJson, type TestEtcd } from '@vxnet/common/testing';
import { deleteNetns, ensureNetns, listNetns } from '@vxnet/netns';
import { agentMemory, memoryText, type AgentMemory } from './lib/agent-memory.js';
import { writeReport } from './lib/stats.js';

const HOSTS = 5000;
const FLAP = 100;
const GOAL_SECONDS = 5;
const GOAL_RSS_MB = 150;
/** The agent to run; VXNET_BENCH_AGENT points at another build to compare. */
const AGENT = process.env.VXNET_BENCH_AGENT ?? fileURLToPath(new URL('../../packages/agent/bin/vxnet-agent.js', import.meta.url));
/** The outer run's pid names every namespace, in both runs. */
const TAG = process.argv[2] === '--inner' ? process.argv[4]! : String(process.pid);
const MINE = `vxsc${TAG}-`; // host, sandbox and baseline namespaces
/** The agent names a network's namespace vxnet-<id[0:12]>; the id carries TAG, so only this run's is ever touched. */
const NET_ID = `5ca1${Number(TAG).toString(16).padStart(8, '0')}${'0'.repeat(52)}`;
const AGENT_NETNS = `vxnet-${NET_ID.slice(0, 12)}`;

const hex = (n: number, width: number) => n.toString(16).padStart(width, '0');
const hostName = (h: number) => `fake${hex(h, 4)}`;
/** Host h's /24 inside 10.0.0.0/11 (8,192 /24s: 5,000 fake hosts and room for the agent). */
const subnetOf = (h: number) => `10.${h >> 8}.${h & 255}.0/24`;
const vtepIpOf = (h: number) => `10.${h >> 8}.${h & 255}.0`;
const macOf = (h: number) => `0a:5c:00:00:${hex(h >> 8, 2)}:${hex(h & 255, 2)}`;
const underlayOf = (h: number) => `203.0.113.${(h % 250) + 1}`;

function ip(...args: string[]): string {
  return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 << 20 });
}


const lineCount = (out: string): number => (out.trim() ? out.trim().split('\n').length : 0);

/** Routes, permanent neighbours and FDB entries on vxlan0 of `ns`; zeros while it does not exist. */
function entries(ns: string): [number, number, number] {
  try {
    return [
      lineCount(ip('-n', ns, 'route', 'show', 'dev', 'vxlan0')),
      lineCount(ip('-n', ns, 'neigh', 'show', 'dev', 'vxlan0', 'nud', 'permanent')),
      lineCount(execFileSync('bridge', ['-n', ns, 'fdb', 'show', 'dev', 'vxlan0'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 << 20 })),
    ];
  } catch {
    return [0, 0, 0];
  }
}

/** Polls every 50 ms until `ns` holds `n` of each entry; ms since `since` (performance.now()). */
async function waitEntries(ns: string, n: number, since: number, limitMs: number): Promise<number> {
  for (;;) {
    const [r, nb, f] = entries(ns);
    if (r === n && nb === n && f === n) return performance.now() - since;
    if (performance.now() - since > limitMs) throw new Error(`${ns}: ${r} routes, ${nb} neighbours, ${f} FDB entries after ${limitMs} ms, want ${n} each`);
    await sleep(50);
  }
}

/** Writes `input` to the stdin of `cmd args`; resolves when it exits 0. */
function feed(cmd: string, args: string[], input: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${cmd} ${args.join(' ')}: exit ${code}: ${err.trim().slice(0, 300)}`))));
    child.stdin.end(input);
  });
}

/** The agent's Prometheus text: value of `name` (no labels) or of `name{label}`; 0 when absent. */
async function metric(addr: string, names: string[]): Promise<number[]> {
  const text = await (await fetch(`http://${addr}/metrics`)).text();
  return names.map((name) => {
    const line = text.split('\n').find((l) => l.startsWith(`${name} `));
    return line ? Number(line.slice(name.length + 1)) : 0;
  });
}

/** Sum of `count` over the agent's JSON log lines with message `msg`, from line `from` on. */
function logCount(file: string, msg: string, from: number): { sum: number; lines: number; total: number } {
  const all = readFileSync(file, 'utf8').split('\n').filter(Boolean);
  let sum = 0;
  let lines = 0;
  for (const l of all.slice(from)) {
    const rec = JSON.parse(l) as { msg?: string; count?: number };
    if (rec.msg === msg) {
      sum += rec.count ?? 0;
      lines++;
    }
  }
  return { sum, lines, total: all.length };
}

/** The same 15,000 entries written by `ip -batch` + `bridge -batch` into a fresh namespace; ms. */
async function ipBatchBaseline(): Promise<{ ms: number; counts: [number, number, number] }> {
  const ns = `${MINE}ipb`;
  ensureNetns(ns);
  ip('-n', ns, 'link', 'add', 'vxlan0', 'type', 'vxlan', 'id', '4242', 'dstport', '4789', 'nolearning');
  ip('-n', ns, 'addr', 'add', '10.31.255.0/32', 'dev', 'vxlan0');
  ip('-n', ns, 'link', 'set', 'vxlan0', 'up');
  let ipLines = '';
  let bridgeLines = '';
  for (let h = 0; h < HOSTS; h++) {
    ipLines += `route replace ${subnetOf(h)} via ${vtepIpOf(h)} dev vxlan0 onlink\nneigh replace ${vtepIpOf(h)} lladdr ${macOf(h)} dev vxlan0 nud permanent\n`;
    bridgeLines += `fdb replace ${macOf(h)} dev vxlan0 dst ${underlayOf(h)} self permanent\n`;
  }
  const t0 = performance.now();
  await feed('ip', ['-n', ns, '-batch', '-'], ipLines);
  await feed('bridge', ['-n', ns, '-batch', '-'], bridgeLines);
  const elapsed = performance.now() - t0;
  const counts = entries(ns);
  deleteNetns(ns);
  return { ms: elapsed, counts };
}

/** The measurement, run inside the scratch host namespace (see main): etcd on its loopback, the agent beside it. */
async function inner(hostNs: string): Promise<void> {
  const tmp = mkdtempSync(join(tmpdir(), 'vxnet-bench-scale-'));
  let etcd: TestEtcd | undefined;
  let client: Etcd3 | undefined;
  let agent: ProcessRecord | undefined;
  const load0 = loadavg()[0]!;
  try {
    etcd = await startTestEtcd('vxnet-bench-scale');
    client = new Etcd3({ hosts: etcd.endpoint });
    const k = keys('/vxnet/');
    const now = new Date().toISOString();
    const expires = new Date(Date.now() + 24 * 3600_000).toISOString();
    const net: NetworkSpec = {
      id: NET_ID, name: 'scale0', driver: 'overlay', subnet: '10.0.0.0/11', hostSubnetLength: 24, vni: 7100,
      mtu: null, internal: false, labels: {}, options: {}, createdAt: now,
    };

    const keep = client.lease(60);
    await keep.grant();
    let flap = client.lease(60);
    await flap.grant();
    const aliveValue = (h: number) => JSON.stringify({ name: hostName(h), underlayIp: underlayOf(h), since: now });
    const puts: Array<() => Promise<unknown>> = [() => client!.put(k.network(net.id)).value(JSON.stringify(net)).exec()];
    for (let h = 0; h < HOSTS; h++) {
      const alive = h < FLAP ? flap : keep;
      puts.push(() => alive.put(k.hostAlive(hostName(h))).value(aliveValue(h)).exec());
      const rec: SubnetLease = {
        networkId: net.id, subnet: subnetOf(h), host: hostName(h), underlayIp: underlayOf(h), vtepMac: macOf(h),
        acquiredAt: now, renewedAt: now, expiresAt: expires,
      };
      puts.push(() => keep.put(k.lease(net.id, subnetOf(h))).value(JSON.stringify(rec)).exec());
    }
    for (let i = 0; i < puts.length; i += 256) await Promise.all(puts.slice(i, i + 256).map((p) => p()));
    console.log(`store: ${puts.length} keys written`);

    const sandbox = `${MINE}sb`;
    ensureNetns(sandbox);
    const sock = join(tmp, 'agent.sock');
    const logFile = join(tmp, 'agent.log');
    const metricsAddr = `127.0.0.1:${await freePort()}`;
    const t0 = performance.now();
    agent = spawnDaemon({
      // the bin executed, as systemd runs it: its #! line (and the V8 flags there) included
      command: AGENT,
      args: [
        '--host', 'h0', '--store', etcd.storeUrl, '--underlay-ip', '198.51.100.1', '--underlay-interface', 'eth0',
        '--state-dir', join(tmp, 'state'), '--socket', sock, '--dns-upstream', '', '--log-file', logFile, '--metrics-addr', metricsAddr,
      ],
      logFile: join(tmp, 'agent.out'),
      netnsPath: `/run/netns/${hostNs}`,
    });
    while (!existsSync(sock)) {
      if (performance.now() - t0 > 60_000) throw new Error(`agent did not open its socket in 60 s; see ${tmp}`);
      await sleep(20);
    }
    const startMs = performance.now() - t0;
    await sleep(2000);
    const idle = await agentMemory(agent.pid, sock);
    console.log(`agent up in ${startMs.toFixed(0)} ms; idle ${memoryText(idle)}`);

    // 1. convergence
    const joinStart = performance.now();
    const r = await unixJson(sock, 'POST', '/v1/endpoints', { network: net.name, sandbox: `/run/netns/${sandbox}`, name: 'c0' });
    if (r.status !== 201) throw new Error(`POST /v1/endpoints: ${r.status} ${JSON.stringify(r.body)}`);
    const postMs = performance.now() - joinStart;
    const convergeMs = await waitEntries(AGENT_NETNS, HOSTS, joinStart, 120_000);
    const converged = await agentMemory(agent.pid, sock);
    await sleep(5000);
    const settled = await agentMemory(agent.pid, sock);
    console.log(`converged in ${(convergeMs / 1000).toFixed(2)} s (POST ${postMs.toFixed(0)} ms); ${memoryText(converged)}; 5 s later ${memoryText(settled)}`);

    // 2. the flap: 100 alive keys gone at once (their lease revoked), then back at once
    const names = ['vxnet_agent_store_watch_resyncs_total', 'vxnet_agent_store_watch_events_total{type="delete"}', 'vxnet_agent_store_watch_events_total{type="put"}'];
    const m0 = await metric(metricsAddr, names);
    const log0 = logCount(logFile, '', 0).total;
    const downStart = performance.now();
    await flap.revoke();
    const downMs = await waitEntries(AGENT_NETNS, HOSTS - FLAP, downStart, 60_000);
    await sleep(500); // let the agent's log and counters settle
    const m1 = await metric(metricsAddr, names);
    const removed = logCount(logFile, 'peers removed', log0);
    flap = client.lease(60);
    await flap.grant();
    const upStart = performance.now();
    await Promise.all(Array.from({ length: FLAP }, (_, h) => flap.put(k.hostAlive(hostName(h))).value(aliveValue(h)).exec()));
    const upMs = await waitEntries(AGENT_NETNS, HOSTS, upStart, 60_000);
    await sleep(500);
    const m2 = await metric(metricsAddr, names);
    const added = logCount(logFile, 'peers added', removed.total);
    const afterFlap = await agentMemory(agent.pid, sock);
    const resyncs = m2[0]! - m0[0]!;
    console.log(`flap down ${downMs.toFixed(0)} ms (${removed.sum} removed in ${removed.lines} applies), up ${upMs.toFixed(0)} ms (${added.sum} added in ${added.lines} applies), resyncs ${resyncs}`);

    // 3. baseline, same run
    const base = await ipBatchBaseline();
    console.log(`ip -batch baseline: ${base.ms.toFixed(0)} ms for ${base.counts.join('/')} entries`);
    const load1 = loadavg()[0]!;

    const heapRow = (m: AgentMemory) => `${m.heapTotal.toFixed(1)} / ${m.heapUsed.toFixed(1)} / ${m.newSpace.toFixed(1)} / ${m.external.toFixed(1)} MB`;
    const convergeOk = convergeMs / 1000 < GOAL_SECONDS;
    const rssOk = Math.max(converged.rss, settled.rss) < GOAL_RSS_MB;
    const flapOk = resyncs === 0 && removed.sum === FLAP && added.sum === FLAP;
    const md = `# Scale: one agent among ${HOSTS.toLocaleString('en')} hosts on one network

Command: \`node bench/dist/scale-hosts.js\` (after \`npx tsc -b\`, as root)
Date: ${new Date().toISOString()}
Setup: Node ${process.version}, kernel ${execFileSync('uname', ['-r'], { encoding: 'utf8' }).trim()}; load average (1 min) ${load0.toFixed(2)} at start, ${load1.toFixed(2)} at end,
on a shared 2-core machine. Throwaway etcd 3.4 on loopback holding one network (10.0.0.0/11, host subnets /24),
${HOSTS} fake hosts alive and ${HOSTS} subnet leases (${puts.length} keys). One real \`vxnet-agent\` process (\`${AGENT}\`
executed as a host runs it, its \`#!\` line included; default log level, log to a file, metrics on loopback of its namespace) in a scratch host namespace (veth eth0 198.51.100.1/24 as underlay),
joined to the network by one endpoint (POST /v1/endpoints). Converged = the network namespace holds ${HOSTS} routes, ${HOSTS}
permanent neighbours and ${HOSTS} FDB entries on vxlan0 (\`ip\`/\`bridge\` counts, polled every 50 ms; one poll of 15,000 entries
takes tens of ms, included). Flap: the alive keys of ${FLAP} hosts are bound to one etcd lease; it is revoked (one revision deletes
all ${FLAP}), then ${FLAP} alive keys are put again concurrently. Baseline: \`ip -n NS -batch -\` (routes + neighbours) then
\`bridge -n NS -batch -\` (FDB) writing the same ${3 * HOSTS} entries into a fresh namespace with a VXLAN device (fork and exec included).

| measure | value |
|---|---:|
| agent start → API socket (store view loaded) | ${startMs.toFixed(0)} ms |
| VmRSS idle (no network joined) | ${idle.rss.toFixed(1)} MB |
| POST /v1/endpoints (join, lease, ${HOSTS} peers) | ${postMs.toFixed(0)} ms |
| **POST → ${3 * HOSTS} entries in the kernel** | **${(convergeMs / 1000).toFixed(2)} s** |
| baseline: \`ip -batch\` + \`bridge -batch\`, same ${3 * HOSTS} entries | ${(base.ms / 1000).toFixed(2)} s (${base.counts.join(' / ')} entries) |
| **VmRSS at convergence** | **${converged.rss.toFixed(1)} MB** |
| VmRSS 5 s later / VmHWM (peak) | ${settled.rss.toFixed(1)} MB / ${settled.hwm.toFixed(1)} MB |
| flap down: ${FLAP} alive keys deleted → ${HOSTS - FLAP} of each entry | ${downMs.toFixed(0)} ms |
| … watch events delivered (delete / put), peers removed (log: sum of "peers removed" counts, applies) | ${m1[1]! - m0[1]!} / ${m1[2]! - m0[2]!}, ${removed.sum} in ${removed.lines} |
| flap up: ${FLAP} alive keys put → ${HOSTS} of each entry again | ${upMs.toFixed(0)} ms |
| … watch events delivered (delete / put), peers added (log: sum of "peers added" counts, applies) | ${m2[1]! - m1[1]!} / ${m2[2]! - m1[2]!}, ${added.sum} in ${added.lines} |
| watch resyncs during the flap (\`vxnet_agent_store_watch_resyncs_total\`, before → after) | ${m0[0]} → ${m2[0]} |
| VmRSS after the flap | ${afterFlap.rss.toFixed(1)} MB |
| V8 heap committed / used / of it new space / external: idle | ${heapRow(idle)} |
| … at convergence | ${heapRow(converged)} |
| … 5 s later | ${heapRow(settled)} |

Goals:
- converge in < ${GOAL_SECONDS} s: ${convergeOk ? 'met' : 'not met'} (${(convergeMs / 1000).toFixed(2)} s; \`ip -batch\` alone: ${(base.ms / 1000).toFixed(2)} s).
- RSS < ${GOAL_RSS_MB} MB at convergence: ${rssOk ? 'met' : 'not met'} (${Math.max(converged.rss, settled.rss).toFixed(1)} MB).
- a flap of ${FLAP} hosts absorbed without a full resync: ${flapOk ? 'met' : 'not met'} (${resyncs} resyncs; ${removed.sum} peers removed and ${added.sum} added, incrementally).
`;
    console.log(`\n${md}`);
    writeReport('scale-hosts', md);
    keep.release();
  } finally {
    if (agent) await stopProcess(agent);
    client?.close();
    for (const ns of [AGENT_NETNS, ...listNetns(MINE)].filter((n) => n !== hostNs && listNetns(n).includes(n))) {
      try {
        deleteNetns(ns);
      } catch (err) {
        console.error(`could not delete namespace ${ns}: ${(err as Error).message}`);
      }
    }
    await etcd?.destroy();
    // VXNET_BENCH_KEEP=DIR keeps the agent's log (where a join's time went)
    if (process.env.VXNET_BENCH_KEEP) cpSync(join(tmp, 'agent.log'), join(process.env.VXNET_BENCH_KEEP, 'scale-hosts-agent.log'));
    rmSync(tmp, { recursive: true, force: true });
  }
}

/**
 * Creates the host namespace, then runs this script again inside it (nsenter keeps
 * the mount namespace, so namespaces made there are visible here), and removes every
 * namespace either run made, whatever happened.
 */
async function main(): Promise<void> {
  if (process.argv[2] === '--inner') return inner(process.argv[3]!);
  if (process.getuid?.() !== 0) throw new Error('the scale benchmark creates network namespaces and needs root');
  const hostNs = `${MINE}host`;
  try {
    ensureNetns(hostNs);
    ip('-n', hostNs, 'link', 'set', 'lo', 'up');
    // No dummy module on these machines: a veth whose peer stays beside it.
    ip('-n', hostNs, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth0p');
    ip('-n', hostNs, 'addr', 'add', '198.51.100.1/24', 'dev', 'eth0');
    ip('-n', hostNs, 'link', 'set', 'eth0', 'up');
    ip('-n', hostNs, 'link', 'set', 'eth0p', 'up');
    const r = spawnSync('nsenter', [`--net=/run/netns/${hostNs}`, '--', process.execPath, fileURLToPath(import.meta.url), '--inner', hostNs, TAG], { stdio: 'inherit' });
    if (r.status !== 0) throw new Error(`the run inside ${hostNs} failed (exit ${r.status ?? r.signal})`);
  } finally {
    for (const ns of [AGENT_NETNS, ...listNetns(MINE)].filter((n) => listNetns(n).includes(n))) deleteNetns(ns);
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
