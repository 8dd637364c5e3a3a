/**
 * Memory of a real vxnet-agent holding 1,000 remote hosts on each of 10 networks.
 *
 * A throwaway etcd on loopback holds 10 network specs (/14 each, host subnets /24)
 * and 1,000 fake hosts: an alive/<host> key each and, on every network, a lease of
 * its own /24 with a VTEP MAC and an underlay address (TEST-NET-3, never sent to),
 * all bound to one etcd lease kept alive by this script. The agent runs as its own
 * process inside a scratch host namespace (veth eth0 = 198.51.100.1/24 as underlay),
 * started through nsenter; it is made to join the 10 networks by creating one
 * endpoint per network through its unix-socket API, each into a scratch sandbox
 * namespace. Measured: time from the first POST until every network namespace holds
 * 1,000 routes, 1,000 permanent neighbours and 1,000 FDB entries, and the agent's
 * VmRSS / VmHWM (/proc/PID/status) idle after start, after convergence, and after
 * a settling pause.
 *
 *   node bench/dist/agent-rss.js     (needs root, etcd on PATH)
 *
 * Prints a markdown table and writes it to bench/results/agent-rss.md.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { Etcd3 } from 'etcd3';
import { keys, spawnDaemon, stopProcess, type NetworkSpec, type ProcessRecord, type SubnetLease } from '@vxnet/common';
import { startTestEtcd, unixJson, type TestEtcd } from '@vxnet/common/testing';
import { deleteNetns, ensureNetns, listNetns } from '@vxnet/netns';
import { agentMemory, memoryText, procMemory as memory, type AgentMemory } from './lib/agent-memory.js';
import { writeReport } from './lib/stats.js';

const NETWORKS = 10;
const HOSTS = 1000;
/** The agent to run; VXNET_BENCH_AGENT points at another build (e.g. a patched copy) to compare. */
const AGENT = process.env.VXNET_BENCH_AGENT ?? fileURLToPath(new URL('../../packages/agent/bin/vxnet-agent.js', import.meta.url));
/** The outer run's pid names every namespace, in both runs. */
const TAG = process.argv[2] === '--inner' ? process.argv[4]! : String(process.pid);
const MINE = `vxbr${TAG}-`; // host + sandbox namespaces
/** The agent names a network's namespace vxnet-<id[0:12]>; the ids carry TAG, so only this run's are ever touched. */
const netIdOf = (n: number): string => `${(0xbe00 + n).toString(16).padStart(4, '0')}${Number(TAG).toString(16).padStart(8, '0')}${'0'.repeat(52)}`;
const AGENT_NETNS = Array.from({ length: NETWORKS }, (_, n) => `vxnet-${netIdOf(n).slice(0, 12)}`);

function ip(...args: string[]): string {
  return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}


const lineCount = (out: string): number => (out.trim() ? out.trim().split('\n').length : 0);

/** Routes, permanent neighbours and FDB entries on vxlan0 of `ns`. */
function entries(ns: string): [number, number, number] {
  try {
    return [
      lineCount(ip('-n', ns, 'route', 'show', 'dev', 'vxlan0')),
      lineCount(ip('-n', ns, 'neigh', 'show', 'dev', 'vxlan0', 'nud', 'permanent')),
      lineCount(execFileSync('bridge', ['-n', ns, 'fdb', 'show', 'dev', 'vxlan0'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })),
    ];
  } catch {
    return [0, 0, 0];
  }
}

const hex = (n: number, width: number) => n.toString(16).padStart(width, '0');

/**
 * The measurement, run inside the scratch host namespace (see main): etcd on
 * that namespace's loopback, the agent beside it.
 */
async function inner(hostNs: string): Promise<void> {
  const tmp = mkdtempSync(join(tmpdir(), 'vxnet-bench-rss-'));
  let etcd: TestEtcd | undefined;
  let client: Etcd3 | undefined;
  let agent: ProcessRecord | undefined;
  try {
    etcd = await startTestEtcd('vxnet-bench-rss');
    client = new Etcd3({ hosts: etcd.endpoint });
    const k = keys('/vxnet/');
    const now = new Date().toISOString();
    const expires = new Date(Date.now() + 24 * 3600_000).toISOString();

    // The store: 10 networks 10.(4n).0.0/14 with /24 host subnets (1,024 each: 1,000
    // fake hosts and room for the agent), 1,000 alive hosts, 10,000 leases.
    const nets: NetworkSpec[] = Array.from({ length: NETWORKS }, (_, n) => ({
      id: netIdOf(n),
      name: `rss${n}`,
      driver: 'overlay',
      subnet: `10.${4 * n}.0.0/14`,
      hostSubnetLength: 24,
      vni: 7000 + n,
      mtu: null,
      internal: false,
      labels: {},
      options: {},
      createdAt: now,
    }));
    const sock = join(tmp, 'agent.sock');
    const startAgent = (tag: string): ProcessRecord =>
      spawnDaemon({
        // the bin executed, as systemd runs it: its #! line (and the V8 flags there) included
        command: AGENT,
        args: [
          '--host', 'h0', '--store', etcd!.storeUrl, '--underlay-ip', '198.51.100.1', '--underlay-interface', 'eth0',
          '--state-dir', join(tmp, `state-${tag}`), '--socket', sock, '--dns-upstream', '', '--log-file', join(tmp, `agent-${tag}.log`),
        ],
        logFile: join(tmp, `agent-${tag}.out`),
        netnsPath: `/run/netns/${hostNs}`,
      });
    const waitSocket = async (): Promise<number> => {
      const t0 = Date.now();
      while (!existsSync(sock)) {
        if (Date.now() - t0 > 30_000) throw new Error(`agent did not open its socket in 30 s; see ${tmp}`);
        await sleep(50);
      }
      return Date.now() - t0;
    };

    // Baseline: the same agent against an empty store.
    agent = startAgent('empty');
    await waitSocket();
    await sleep(2000);
    const empty = memory(agent.pid);
    await stopProcess(agent);
    agent = undefined;
    rmSync(sock, { force: true });
    console.log(`baseline (empty store): RSS ${empty.rss.toFixed(1)} MB`);

    const lease = client.lease(30);
    await lease.grant();
    const puts: Array<() => Promise<unknown>> = [];
    for (const net of nets) puts.push(() => client!.put(k.network(net.id)).value(JSON.stringify(net)).exec());
    for (let h = 0; h < HOSTS; h++) {
      const host = `fake${hex(h, 4)}`;
      const underlayIp = `203.0.113.${(h % 250) + 1}`;
      puts.push(() => lease.put(k.hostAlive(host)).value(JSON.stringify({ name: host, underlayIp, since: now })).exec());
      nets.forEach((net, n) => {
        const subnet = `10.${4 * n + (h >> 8)}.${h & 255}.0/24`;
        const rec: SubnetLease = {
          networkId: net.id, subnet, host, underlayIp,
          vtepMac: `0a:${hex(n, 2)}:00:00:${hex(h >> 8, 2)}:${hex(h & 255, 2)}`,
          acquiredAt: now, renewedAt: now, expiresAt: expires,
        };
        puts.push(() => lease.put(k.lease(net.id, subnet)).value(JSON.stringify(rec)).exec());
      });
    }
    for (let i = 0; i < puts.length; i += 256) await Promise.all(puts.slice(i, i + 256).map((p) => p()));
    console.log(`store: ${puts.length} keys written`);

    const sandboxes = nets.map((_, n) => {
      const sb = `${MINE}sb${n}`;
      ensureNetns(sb);
      return sb;
    });

    agent = startAgent('run');
    const startMs = await waitSocket();
    await sleep(2000);
    const idle = await agentMemory(agent.pid, sock);
    console.log(`agent up in ${startMs} ms; idle ${memoryText(idle)}`);

    const joinStart = performance.now();
    const postMs: number[] = [];
    for (const [n, net] of nets.entries()) {
      const t = performance.now();
      const r = await unixJson(sock, 'POST', '/v1/endpoints', { network: net.name, sandbox: `/run/netns/${sandboxes[n]}`, name: `c${n}` });
      if (r.status !== 201) throw new Error(`POST /v1/endpoints for ${net.name}: ${r.status} ${JSON.stringify(r.body)}`);
      postMs.push(performance.now() - t);
    }
    const allPosted = performance.now() - joinStart;
    const nsNames = nets.map((net) => `vxnet-${net.id.slice(0, 12)}`);
    const pending = new Set(nsNames);
    while (pending.size) {
      for (const ns of [...pending]) {
        const [r, nb, f] = entries(ns);
        if (r === HOSTS && nb === HOSTS && f === HOSTS) pending.delete(ns);
      }
      if (pending.size === 0) break;
      if (performance.now() - joinStart > 600_000) throw new Error(`not converged after 600 s: ${[...pending].join(', ')}`);
      await sleep(100);
    }
    const convergeMs = performance.now() - joinStart;
    const converged = await agentMemory(agent.pid, sock);
    await sleep(5000);
    const settled = await agentMemory(agent.pid, sock);
    console.log(`converged in ${(convergeMs / 1000).toFixed(2)} s; ${memoryText(converged)}; after 5 s ${memoryText(settled)}; HWM ${settled.hwm.toFixed(1)} MB`);
    const heapRow = (m: AgentMemory) => `${m.heapTotal.toFixed(1)} / ${m.heapUsed.toFixed(1)} / ${m.newSpace.toFixed(1)} / ${m.external.toFixed(1)} MB`;

    const md = `# Agent memory: 1,000 remote hosts on each of 10 networks

Command: \`node bench/dist/agent-rss.js\` (after \`npx tsc -b\`, as root)
Date: ${new Date().toISOString()}
Setup: Node ${process.version}, kernel ${execFileSync('uname', ['-r'], { encoding: 'utf8' }).trim()}; throwaway etcd 3.4 on loopback holding
${NETWORKS} networks (/14, host subnets /24), ${HOSTS} fake hosts alive, ${HOSTS * NETWORKS} subnet leases (one per fake host and network).
One real \`vxnet-agent\` process (\`${AGENT}\` executed as a host runs it, its \`#!\` line included; default log
level, log to a file) in a scratch host namespace (veth eth0 198.51.100.1/24 as underlay), joined to the ${NETWORKS} networks
by one endpoint each (POST /v1/endpoints on its unix socket, sandboxes in scratch namespaces, one POST after another).
Converged = every network namespace holds ${HOSTS} routes, ${HOSTS} permanent neighbours and ${HOSTS} FDB entries on
vxlan0 (\`ip\`/\`bridge\` counts, polled every 100 ms). Kernel entries in total: ${3 * HOSTS * NETWORKS}.

| measure | value |
|---|---:|
| VmRSS of the same agent against an empty store (baseline, separate process) | ${empty.rss.toFixed(1)} MB |
| agent start → API socket | ${startMs} ms |
| VmRSS idle (store view loaded: networks, alive hosts, endpoints; no network joined) | ${idle.rss.toFixed(1)} MB |
| 10 × POST /v1/endpoints (join + ${HOSTS} peers each), total | ${(allPosted / 1000).toFixed(2)} s |
| POST /v1/endpoints each (ms) | ${postMs.map((x) => x.toFixed(0)).join(' / ')} |
| first POST → all ${NETWORKS} namespaces converged | ${(convergeMs / 1000).toFixed(2)} s |
| VmRSS at convergence | ${converged.rss.toFixed(1)} MB |
| VmRSS 5 s later | ${settled.rss.toFixed(1)} MB |
| VmHWM (peak RSS) | ${settled.hwm.toFixed(1)} MB |
| V8 heap committed / used / of it new space / external: idle | ${heapRow(idle)} |
| … at convergence | ${heapRow(converged)} |
| … 5 s later | ${heapRow(settled)} |

Heap and external from the agent's own \`/metrics\` (prom-client's \`nodejs_heap_*\`), read right after VmRSS; load average (1 min) ${loadavg()[0]!.toFixed(2)}.

Goal: RSS under 120 MB — ${settled.hwm < 120 ? 'met (peak included)' : settled.rss < 120 ? 'met after settling, peak above' : 'not met'}.
`;
    console.log(`\n${md}`);
    writeReport('agent-rss', md);
  } finally {
    if (agent) await stopProcess(agent);
    client?.close();
    for (const ns of [...AGENT_NETNS.filter((n) => listNetns(n).includes(n)), ...listNetns(MINE)].filter((n) => n !== hostNs)) {
      try {
        deleteNetns(ns);
      } catch (err) {
        console.error(`could not delete namespace ${ns}: ${(err as Error).message}`);
      }
    }
    await etcd?.destroy();
    rmSync(tmp, { recursive: true, force: true });
  }
}

/**
 * Creates the host namespace, then runs this script again inside it (nsenter
 * keeps the mount namespace, so namespaces made there are visible here), and
 * removes every namespace either run made, whatever happened.
 */
async function main(): Promise<void> {
  if (process.argv[2] === '--inner') return inner(process.argv[3]!);
  if (process.getuid?.() !== 0) throw new Error('the RSS benchmark creates network namespaces and needs root');
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
    for (const ns of [...AGENT_NETNS.filter((n) => listNetns(n).includes(n)), ...listNetns(MINE)]) deleteNetns(ns);
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
