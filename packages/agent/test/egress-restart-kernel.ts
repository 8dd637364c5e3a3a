/**
 * The agent binary (main.ts wiring: nft, /proc and port binds in its own namespace)
 * in a simulated host, with its etcd on the host's loopback, an "outside" namespace
 * on the underlay, and a container publishing a port through the local API. The
 * agent is killed with SIGKILL while a UDP stream flows from the container to the
 * outside, the table is tampered with while it is down, and it is started again:
 * the stream loses at most one datagram, the table equals what it was before the
 * kill (stale elements gone), the published port answers. Everything is this
 * file's own (unique prefix, processes killed by pid) and removed at teardown.
 */
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isAlive, keys, spawnDaemon, spawnEtcd, stopProcess, waitEtcdHealthy, type NetworkSpec, type ProcessRecord } from '@vxnet/common';
import type { AgentStatus, LocalEndpoint } from '@vxnet/common/api';
import { etcdMissing, unixJson } from '@vxnet/common/testing';
import { deleteNetns, netnsPath } from '@vxnet/netns';

import { makeNs, makeSwitch, msSince, removeAll, skipReason, testPrefix } from './dataplane/helpers/sim.js';
import { killTrafficProcesses, startHelloServer, startUdpStream, tcpHello } from './helpers/traffic.js';

const AGENT_BIN = fileURLToPath(new URL('../../bin/vxnet-agent.js', import.meta.url));
const prefix = testPrefix('er');
/**
 * The binary names its network namespaces vxnet-<12 hex of the id> (no flag changes
 * that), so the id starts with this process's pid: unique here, and removed at teardown.
 */
const NET_ID = `${process.pid.toString(16).padStart(8, '0')}${'e'.repeat(56)}`;
const NET_NS = `vxnet-${NET_ID.slice(0, 12)}`;
const skip = skipReason() ?? etcdMissing() ?? missingNft();

function missingNft(): string | undefined {
  try {
    execFileSync('nft', ['--version'], { stdio: 'ignore' });
    return undefined;
  } catch {
    return 'nft is not installed';
  }
}

function inNs(ns: string, cmd: string, args: string[], env?: NodeJS.ProcessEnv): string {
  return execFileSync('nsenter', [`--net=${netnsPath(ns)}`, '--', cmd, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], ...(env ? { env } : {}) });
}

if (skip) {
  t.plan(0, `skip: ${skip}`);
} else {
  const sw = makeSwitch(prefix);
  const h1 = sw.attach('h1', '198.51.100.1');
  const out = sw.attach('out', '198.51.100.200');
  const dir = mkdtempSync(join(tmpdir(), 'vxnet-egress-restart-'));
  const socket = join(dir, 'agent.sock');
  const procs: ProcessRecord[] = [];
  t.teardown(async () => {
    killTrafficProcesses();
    for (const p of [...procs].reverse()) if (isAlive(p)) await stopProcess(p).catch(() => undefined); // agents, then etcd
    removeAll(prefix);
    deleteNetns(NET_NS);
    rmSync(dir, { recursive: true, force: true });
  });

  // etcd on h1's own loopback: the agent in h1 reaches it, nothing else does
  const etcdUrl = 'http://127.0.0.1:23790';
  const etcd = spawnEtcd({ name: prefix, dataDir: join(dir, 'etcd'), listenClientUrls: [etcdUrl], peerUrl: 'http://127.0.0.1:23800', logFile: join(dir, 'etcd.log'), netnsPath: netnsPath(h1) });
  procs.push(etcd);
  await waitEtcdHealthy(etcdUrl, { netnsPath: netnsPath(h1), isAlive: () => isAlive(etcd) });
  const k = keys(`/${prefix}/`);
  const A: NetworkSpec = {
    id: NET_ID, name: 'er-a', driver: 'overlay', subnet: '10.140.0.0/16', hostSubnetLength: 24, vni: 5301, mtu: null,
    internal: false, labels: {}, options: {}, createdAt: new Date(0).toISOString(),
  };
  inNs(h1, 'etcdctl', ['--endpoints', etcdUrl, 'put', k.network(A.id), JSON.stringify(A)], { ...process.env, ETCDCTL_API: '3' });

  let agent: ProcessRecord | undefined;
  const startAgent = async (): Promise<number> => {
    rmSync(socket, { force: true });
    const started = performance.now();
    agent = spawnDaemon({
      command: process.execPath, netnsPath: netnsPath(h1), logFile: join(dir, 'agent.out'),
      args: [AGENT_BIN, '--host', 'h1', '--store', 'etcd://127.0.0.1:23790', '--store-prefix', `/${prefix}/`, '--underlay-ip', '198.51.100.1',
        '--underlay-interface', 'eth0', '--state-dir', join(dir, 'state'), '--socket', socket, '--log-file', join(dir, 'agent.log'),
        '--dns-upstream', ''],
    });
    procs.push(agent);
    for (let i = 0; i < 200 && !existsSync(socket); i++) {
      if (!isAlive(agent)) throw new Error(`the agent exited: ${readFileSync(join(dir, 'agent.out'), 'utf8')}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    if (!existsSync(socket)) throw new Error('the agent did not serve within 10 s');
    return msSince(started);
  };
  const table = () => inNs(h1, 'nft', ['list', 'table', 'ip', 'vxnet']);

  let ep: LocalEndpoint;
  t.test('the binary starts with egress available and publishes a port', async (t) => {
    t.comment(`agent start: ${await startAgent()} ms`);
    const status = await unixJson<AgentStatus>(socket, 'GET', '/v1/status');
    t.same(status.body.egress, { available: true, reason: null });
    t.equal(inNs(h1, 'cat', ['/proc/sys/net/ipv4/ip_forward']).trim(), '1', 'forwarding on in the host namespace');
    const sandbox = makeNs(`${prefix}-c1`);
    let started = performance.now();
    const created = await unixJson<LocalEndpoint>(socket, 'POST', '/v1/endpoints', {
      network: A.name, sandbox: netnsPath(sandbox), name: 'c1', container: 'ctr-c1', ports: [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }],
    });
    t.comment(`POST /v1/endpoints with a port, first on the network (join, table, uplink, veth): ${msSince(started)} ms`);
    t.equal(created.status, 201, JSON.stringify(created.body));
    started = performance.now();
    const second = await unixJson<LocalEndpoint>(socket, 'POST', '/v1/endpoints', {
      network: A.name, sandbox: netnsPath(makeNs(`${prefix}-c3`)), name: 'c3', container: 'ctr-c3', ports: [{ hostPort: 8083, containerPort: 80, protocol: 'udp' }],
    });
    t.comment(`POST /v1/endpoints with a port, network joined (bind check, veth, table): ${msSince(started)} ms`);
    t.equal(second.status, 201);
    started = performance.now();
    t.equal((await unixJson(socket, 'DELETE', `/v1/endpoints/${second.body.id}`)).status, 200);
    t.comment(`DELETE /v1/endpoints/ID with a port: ${msSince(started)} ms`);
    ep = created.body;
    t.same(ep.ports, [{ hostIp: '198.51.100.1', hostPort: 8080, containerPort: 80, protocol: 'tcp' }]);
    await startHelloServer(sandbox, '0.0.0.0', 80);
    t.equal(await tcpHello(out, '198.51.100.1', 8080), 'hello 198.51.100.200');
    const busy = await unixJson(socket, 'POST', '/v1/endpoints', {
      network: A.name, sandbox: netnsPath(makeNs(`${prefix}-c2`)), name: 'c2', container: 'ctr-c2', ports: [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }],
    });
    t.equal(busy.status, 409);
    t.match(busy.body, { code: 'VXNET_PORT_UNAVAILABLE', message: /is published for container ctr-c1/ });
  });

  t.test('SIGKILL and restart while a UDP stream flows: at most one datagram lost, the table as before', async (t) => {
    const before = table();
    await startHelloServer(out, '198.51.100.200', 9000);
    const stream = await startUdpStream(`${prefix}-c1`, out, '198.51.100.200', 7000, 2);
    await new Promise((r) => setTimeout(r, 300));
    if (agent?.pid !== undefined) process.kill(agent.pid, 'SIGKILL');
    for (let i = 0; i < 100 && agent && isAlive(agent); i++) await new Promise((r) => setTimeout(r, 20));
    // while it is down: stale elements and a stale rule
    inNs(h1, 'nft', ['add', 'element', 'ip', 'vxnet', 'uplinks', '{ "vxu-00000000000" }']);
    inNs(h1, 'nft', ['add', 'rule', 'ip', 'vxnet', 'prerouting', 'tcp', 'dport', '7777', 'dnat', 'to', '10.140.9.9:1']);
    t.comment(`agent restart after SIGKILL: ${await startAgent()} ms`);
    await new Promise((r) => setTimeout(r, 300));
    const udp = await stream.stop();
    t.comment(`UDP across the restart: ${JSON.stringify(udp)}`);
    t.ok(udp.received > 200, 'the stream flowed');
    t.ok(udp.lost <= 1, `lost ${udp.lost}`);
    t.equal(udp.src, '198.51.100.1', 'masqueraded to the host');
    t.equal(table(), before, 'the table equals the desired state: stale elements gone');
    t.equal(await tcpHello(out, '198.51.100.1', 8080), 'hello 198.51.100.200', 'the published port is back from the state file');
    t.equal(await tcpHello(`${prefix}-c1`, '198.51.100.200', 9000), 'hello 198.51.100.1', 'TCP egress');
    const status = await unixJson<AgentStatus>(socket, 'GET', '/v1/status');
    t.match(status.body.networks, [{ id: A.id, internal: false, exposedIp: null }]);
  });

  t.test('expose through the API survives a restart', async (t) => {
    const r = await unixJson(socket, 'POST', `/v1/networks/${A.name}/expose`);
    t.equal(r.status, 200);
    if (agent) await stopProcess(agent);
    await startAgent();
    const status = await unixJson<AgentStatus>(socket, 'GET', '/v1/status');
    t.equal(status.body.networks[0]?.exposedIp, r.body.ip);
    t.equal(await tcpHello(h1, ep.ip, 80), `hello ${r.body.ip}`, 'the host reaches the container from its exposed address');
  });
}
