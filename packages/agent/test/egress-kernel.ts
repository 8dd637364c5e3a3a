/**
 * Traffic in and out of the overlay on the real kernel (root): two simulated hosts
 * and an "outside" namespace on one underlay bridge (198.51.100.0/24), the outside
 * with no route to any overlay CIDR; an Agent per host in this process (MemoryStore,
 * netlink data plane and nft acting inside the host's namespace); containers are
 * namespaces this file creates. Checked: egress masqueraded to the host's underlay
 * address (ping, TCP); an internal network reaches nothing; two networks never
 * reach each other through the uplinks; a published port from outside and hairpin;
 * a second claim on the port and a port held by a host process refused with nothing
 * changed; expose (the host reaches a container on another host, no NAT); drift
 * repaired; a bad apply changes nothing; an agent restart rebuilds the table
 * (stale elements gone) while a UDP stream to the outside loses at most one
 * datagram; a foreign nft table and a foreign iptables nat rule survive byte for byte.
 * Everything is made under this file's unique prefix and removed at teardown.
 */
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryStore, keys, silentLogger, type NetworkSpec } from '@vxnet/common';
import type { CreateEndpointRequest, LocalEndpoint } from '@vxnet/common/api';
import { netnsPath } from '@vxnet/netns';

import { Agent } from '../src/agent.js';
import { NetlinkDataPlane } from '../src/dataplane/index.js';
import { Firewall, NftCli, procForwarding, type Nft } from '../src/firewall/index.js';
import { LeaseManager } from '../src/lease/lease-manager.js';
import { netnsPortProbe } from '../src/ports/port-probe.js';
import { HostRegistration } from '../src/registration/host-registration.js';
import { ip, makeNs, makeSwitch, msSince, pings, removeAll, skipReason, testPrefix } from './dataplane/helpers/sim.js';
import { killTrafficProcesses, startHelloServer, startUdpStream, tcpHello } from './helpers/traffic.js';

const prefix = testPrefix('eg');
const skip = skipReason() ?? missingTool('nft', '--version') ?? missingTool('iptables', '--version');

function missingTool(cmd: string, ...args: string[]): string | undefined {
  try {
    execFileSync(cmd, args, { stdio: 'ignore' });
    return undefined;
  } catch {
    return `${cmd} is not installed`;
  }
}

/** A command inside namespace `ns`, output as text. */
function inNs(ns: string, cmd: string, ...args: string[]): string {
  return execFileSync('nsenter', [`--net=${netnsPath(ns)}`, '--', cmd, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}
const vxnetTable = (ns: string) => inNs(ns, 'nft', 'list', 'table', 'ip', 'vxnet');

const net = (c: string, n: number, over: Partial<NetworkSpec> = {}): NetworkSpec => ({
  id: c.repeat(64), name: `eg-${c}`, driver: 'overlay', subnet: `10.${128 + n}.0.0/16`, hostSubnetLength: 24, vni: 5200 + n, mtu: null,
  internal: false, labels: {}, options: {}, createdAt: new Date(0).toISOString(), ...over,
});
const A = net('a', 0);
const B = net('b', 1);
const I = net('c', 2, { name: 'eg-internal', internal: true });
const OUTSIDE_IP = '198.51.100.200';

if (skip) {
  t.plan(0, `skip: ${skip}`);
} else {
  // ---- the underlay: a bridge in a switch namespace, h1, h2 and the outside on it
  const sw = makeSwitch(prefix);
  const underlay = (name: string, addr: string) => sw.attach(name, addr);
  const h1 = underlay('h1', '198.51.100.1');
  const h2 = underlay('h2', '198.51.100.2');
  const out = underlay('out', OUTSIDE_IP);

  // foreign state in h1 that no apply may touch
  inNs(h1, 'nft', 'add', 'table', 'ip', 'foreign');
  inNs(h1, 'nft', 'add', 'chain', 'ip', 'foreign', 'input', '{ type filter hook input priority 0; policy accept; }');
  inNs(h1, 'nft', 'add', 'rule', 'ip', 'foreign', 'input', 'tcp', 'dport', '1234', 'accept');
  inNs(h1, 'iptables', '-t', 'nat', '-A', 'POSTROUTING', '-s', '192.0.2.0/24', '-j', 'RETURN');
  const foreignNft = () => inNs(h1, 'nft', 'list', 'table', 'ip', 'foreign');
  // iptables-save's first and last lines are comments with the date
  const foreignIptables = () => inNs(h1, 'iptables-save', '-t', 'nat').split('\n').filter((l) => !l.startsWith('#')).join('\n');
  const foreignBefore = { nft: foreignNft(), iptables: foreignIptables() };

  const store = new MemoryStore();
  const k = keys(`/${prefix}/`);
  for (const n of [A, B, I]) await store.put(k.network(n.id), JSON.stringify(n));
  const dir = mkdtempSync(join(tmpdir(), 'vxnet-egress-'));
  const running = new Set<Agent>();

  /** nft of `ns`, which can be told to spoil the next apply with a rule the kernel refuses. */
  class SpoilableNft implements Nft {
    spoilNext = false;
    private readonly real: NftCli;
    constructor(ns: string) {
      this.real = new NftCli({ netns: ns });
    }
    apply(text: string) {
      const spoil = this.spoilNext;
      this.spoilNext = false;
      // a rule jumping to a chain that does not exist: nft accepts the syntax, the kernel the transaction not
      return this.real.apply(spoil ? `${text}add rule ip vxnet forward jump no_such_chain\n` : text);
    }
    check(text: string) {
      return this.real.check(text);
    }
    listTable() {
      return this.real.listTable();
    }
  }

  const nfts = new Map<string, SpoilableNft>();
  const startAgent = async (host: 'h1' | 'h2'): Promise<Agent> => {
    const ns = host === 'h1' ? h1 : h2;
    const underlayIp = host === 'h1' ? '198.51.100.1' : '198.51.100.2';
    const log = silentLogger();
    const state = join(dir, host);
    const leases = new LeaseManager({ store, keys: k, host, underlayIp, ttlSeconds: 3600, renewMarginSeconds: 600, stateFile: join(state, 'subnets.json'), log });
    const registration = new HostRegistration({ store, keys: k, host, underlayIp, underlayInterface: 'eth0', agentVersion: 'test', ttlSeconds: 10, log, readRoutes: async () => [] });
    const nft = nfts.get(host) ?? new SpoilableNft(ns);
    nfts.set(host, nft);
    const agent = new Agent({
      store, keys: k, host, underlayIp, underlayDevice: 'eth0', underlayMtu: 1500, netnsPrefix: `${prefix}-${host}n-`,
      endpointsFile: join(state, 'endpoints.json'), namespacesFile: join(state, 'namespaces.json'), uplinksFile: join(state, 'uplinks.json'), exposedFile: join(state, 'exposed.json'),
      dataplane: new NetlinkDataPlane({ agentNetns: ns, log }), leases, registration, log,
      firewall: new Firewall({ nft, forwarding: procForwarding(ns), log }), portProbe: netnsPortProbe(ns), firewallCheckMs: 0,
    });
    running.add(agent);
    await agent.start();
    return agent;
  };
  const stopAgent = async (agent: Agent) => {
    running.delete(agent);
    await agent.stop();
  };

  t.teardown(async () => {
    killTrafficProcesses();
    for (const a of running) await a.stop().catch(() => undefined);
    await store.close();
    removeAll(prefix);
    rmSync(dir, { recursive: true, force: true });
  });

  let agent1 = await startAgent('h1');
  const agent2 = await startAgent('h2');
  const containers = new Map<string, LocalEndpoint>();
  const container = async (name: string, network: NetworkSpec, agent = agent1, over: Partial<CreateEndpointRequest> = {}): Promise<LocalEndpoint> => {
    const sandbox = makeNs(`${prefix}-${name}`);
    const ep = await agent.createEndpoint({ network: network.name, sandbox: netnsPath(sandbox), name, container: `ctr-${name}`, ...over });
    containers.set(name, ep);
    return ep;
  };
  const ns = (name: string) => `${prefix}-${name}`;

  const start = performance.now();
  const a1 = await container('a1', A, agent1, { ports: [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }] });
  t.comment(`first endpoint with a published port (join, table, uplink, veth): ${msSince(start)} ms`);
  const a2 = await container('a2', A);
  const b1 = await container('b1', B);
  const i1 = await container('i1', I);
  await container('b2', B, agent2);
  await startHelloServer(ns('a1'), '0.0.0.0', 80);
  await startHelloServer(ns('b1'), '0.0.0.0', 80);
  await startHelloServer(out, OUTSIDE_IP, 9000);

  t.test('the outside has no route to any overlay CIDR', async (t) => {
    t.same(ip('-n', out, '-4', 'route', 'show').trim().split('\n'), ['198.51.100.0/24 dev eth0 proto kernel scope link src 198.51.100.200']);
  });

  t.test('a container on a normal network reaches the outside, masqueraded to the host underlay address', async (t) => {
    t.ok(await pings(ns('a1'), OUTSIDE_IP), 'ping');
    t.equal(await tcpHello(ns('a1'), OUTSIDE_IP, 9000), 'hello 198.51.100.1', 'TCP; the outside sees h1');
    t.equal(await tcpHello(ns('b1'), OUTSIDE_IP, 9000), 'hello 198.51.100.1', 'from the second network too');
  });

  t.test('a container on an internal network reaches nothing outside and no other network', async (t) => {
    const [ping, tcp, other] = await Promise.all([pings(ns('i1'), OUTSIDE_IP), tcpHello(ns('i1'), OUTSIDE_IP, 9000), pings(ns('i1'), a1.ip)]);
    t.notOk(ping, 'no ping out');
    t.match(tcp, /^(error|timeout)/, `no TCP out (${tcp})`);
    t.notOk(other, 'no ping to a container of another network');
    t.notOk(ip('-n', `${prefix}-h1n-${I.id.slice(0, 12)}`, 'link', 'show').includes('uplink'), 'it has no uplink at all');
  });

  t.test('two networks on one host do not reach each other through the uplinks', async (t) => {
    const [ab, ba, tcp] = await Promise.all([pings(ns('a1'), b1.ip), pings(ns('b1'), a1.ip), tcpHello(ns('a2'), b1.ip, 80, 1500)]);
    t.notOk(ab, 'a -> b: no ping');
    t.notOk(ba, 'b -> a: no ping');
    t.match(tcp, /^(error|timeout)/, `a -> b: no TCP (${tcp})`);
  });

  t.test('a published port answers the outside, and hairpin from containers on the same host', async (t) => {
    t.equal(await tcpHello(out, '198.51.100.1', 8080), 'hello 198.51.100.200', 'from outside: the container sees the client');
    t.match(await tcpHello(ns('a2'), '198.51.100.1', 8080), /^hello /, 'hairpin from a container of the same network');
    t.match(await tcpHello(ns('a1'), '198.51.100.1', 8080), /^hello /, 'hairpin from the container itself');
    t.match(await tcpHello(ns('b1'), '198.51.100.1', 8080), /^hello /, 'from another network, through the host address (published ports are public)');
    t.match(await tcpHello(h1, '198.51.100.1', 8080), /^hello 198\.51\.100\.1$/, 'from the host itself (output DNAT)');
    t.equal(await tcpHello(ns('b2'), '198.51.100.1', 8080), 'hello 198.51.100.2', 'from a container on another host (masqueraded there)');
    t.match(await tcpHello(out, a1.ip, 80, 1000), /^error|^timeout/, 'the container itself is not reachable from outside');
  });

  t.test('a port published on 0.0.0.0 answers on every host address, from outside, the host and by hairpin', async (t) => {
    const b3 = await container('b3', B, agent1, { ports: [{ hostIp: '0.0.0.0', hostPort: 8090, containerPort: 80, protocol: 'tcp' }] });
    t.equal(b3.ports?.[0]?.hostIp, '0.0.0.0');
    await startHelloServer(ns('b3'), '0.0.0.0', 80);
    t.equal(await tcpHello(out, '198.51.100.1', 8090), 'hello 198.51.100.200', 'from outside');
    t.match(await tcpHello(ns('a2'), '198.51.100.1', 8090), /^hello /, 'hairpin');
    t.match(await tcpHello(h1, '198.51.100.1', 8090), /^hello /, 'from the host');
    t.match(await tcpHello(h1, '127.0.0.1', 8090, 1000), /^error|^timeout/, 'not on loopback (that would need route_localnet)');
  });

  t.test('a second claim on the port is refused, naming the container; nothing changes', async (t) => {
    const table = vxnetTable(h1);
    const links = ip('-n', h1, 'link', 'show');
    const endpoints = agent1.endpoints().length;
    await t.rejects(container('a3', A, agent1, { ports: [{ hostPort: 8080, containerPort: 81, protocol: 'tcp' }] }), {
      code: 'VXNET_PORT_UNAVAILABLE', message: 'could not publish 198.51.100.1:8080/tcp: 198.51.100.1:8080/tcp is published for container ctr-a1 (endpoint "a1") on host h1',
    });
    t.equal(vxnetTable(h1), table, 'the table is unchanged');
    t.equal(ip('-n', h1, 'link', 'show'), links, 'no link added');
    t.equal(agent1.endpoints().length, endpoints, 'no endpoint');
    t.same(ip('-n', ns('a3'), 'link', 'show').trim().split('\n').filter((l) => /^\d+:/.test(l)).map((l) => l.split(':')[1]?.trim()), ['lo'], 'the sandbox got no interface');
    const started = performance.now();
    const other = await agent1.createEndpoint({ network: A.name, sandbox: netnsPath(ns('a3')), name: 'a3', container: 'ctr-a3', ports: [{ hostPort: 8083, containerPort: 80, protocol: 'tcp' }] });
    t.comment(`endpoint with a published port on a joined network (bind probe, veth, table): ${msSince(started)} ms`);
    const removed = performance.now();
    await agent1.deleteEndpoint(other.id);
    t.comment(`its removal (veth, table): ${msSince(removed)} ms`);
    t.equal(vxnetTable(h1), table, 'and after its removal the table is as before');
  });

  t.test('a port a host process listens on is refused', async (t) => {
    await startHelloServer(h1, '198.51.100.1', 9090);
    await t.rejects(container('a4', A, agent1, { ports: [{ hostPort: 9090, containerPort: 80, protocol: 'tcp' }] }), {
      code: 'VXNET_PORT_UNAVAILABLE', message: 'could not publish 198.51.100.1:9090/tcp: a process on host h1 is using it',
    });
    await t.rejects(container('a5', A, agent1, { ports: [{ hostIp: '203.0.113.5', hostPort: 9091, containerPort: 80, protocol: 'tcp' }] }), {
      message: /203\.0\.113\.5 is not an address of host h1 \(its addresses: 198\.51\.100\.1; or 0\.0\.0\.0 for all\)/,
    });
  });

  t.test('expose: the host reaches a container on another host by its address, without NAT', async (t) => {
    const started = performance.now();
    const r = await agent2.expose(A.name);
    t.comment(`expose on h2 (join, uplink, address): ${msSince(started)} ms`);
    t.match(r, { network: A.id, ip: /^10\.128\./, prefixLength: 16 });
    let ok = false;
    for (let i = 0; i < 30 && !ok; i++) ok = await pings(h2, a1.ip); // until h1 has programmed h2 as a peer
    t.ok(ok, 'h2 pings a container on h1');
    t.equal(await tcpHello(h2, a1.ip, 80), `hello ${r.ip}`, 'the container sees the exposed address');
    t.same(await agent2.expose(A.id), r, 'twice: the same address');
    const local = await container('a6', A, agent2);
    t.ok(await pings(h2, local.ip), 'and a container on h2 itself');
    t.ok(await pings(ns('a6'), r.ip), 'which reaches the host back at once (proxy ARP)');
    await agent2.unexpose(A.name);
    t.notOk(await pings(h2, a1.ip), 'unexposed: no more');
  });

  t.test('drift: an edited table is put back by the check', async (t) => {
    const want = vxnetTable(h1);
    inNs(h1, 'nft', 'flush', 'chain', 'ip', 'vxnet', 'forward');
    inNs(h1, 'nft', 'add', 'element', 'ip', 'vxnet', 'uplinks', '{ "vxu-00000000000" }');
    t.equal(await agent1.checkFirewall(), true, 're-applied');
    t.equal(vxnetTable(h1), want);
    t.equal(await agent1.checkFirewall(), false, 'then nothing to do');
    inNs(h1, 'nft', 'delete', 'table', 'ip', 'vxnet');
    t.equal(await agent1.checkFirewall(), true);
    t.equal(vxnetTable(h1), want, 'a deleted table comes back');
  });

  t.test('a bad apply changes nothing: the endpoint is refused and rolled back, the table stays', async (t) => {
    const table = vxnetTable(h1);
    const links = ip('-n', `${prefix}-h1n-${A.id.slice(0, 12)}`, 'link', 'show');
    nfts.get('h1')!.spoilNext = true;
    await t.rejects(container('a7', A, agent1, { ports: [{ hostPort: 8081, containerPort: 80, protocol: 'tcp' }] }), { code: 'VXNET_FIREWALL_FAILED' });
    t.equal(vxnetTable(h1), table, 'the table is as it was');
    t.equal(ip('-n', `${prefix}-h1n-${A.id.slice(0, 12)}`, 'link', 'show'), links, 'no veth left');
    t.notOk(agent1.endpoints().some((e) => e.name === 'a7'));
    t.equal(await tcpHello(out, '198.51.100.1', 8080), 'hello 198.51.100.200', 'the published port still works');
  });

  t.test('a restart rebuilds the table (stale elements gone) while a UDP stream to the outside loses at most one datagram', async (t) => {
    const want = vxnetTable(h1);
    const stream = await startUdpStream(ns('a2'), out, OUTSIDE_IP, 7000, 2);
    await new Promise((r) => setTimeout(r, 300));
    await stopAgent(agent1);
    // behind its back while it is down: stale elements and a stale rule
    inNs(h1, 'nft', 'add', 'element', 'ip', 'vxnet', 'uplinks', '{ "vxu-00000000000" }');
    inNs(h1, 'nft', 'add', 'element', 'ip', 'vxnet', 'networks', '{ 10.250.0.0/16 }');
    inNs(h1, 'nft', 'add', 'rule', 'ip', 'vxnet', 'prerouting', 'tcp', 'dport', '7777', 'dnat', 'to', '10.128.9.9:1');
    const restarted = performance.now();
    agent1 = await startAgent('h1');
    t.comment(`agent restart (in-process): ${msSince(restarted)} ms`);
    await new Promise((r) => setTimeout(r, 300));
    const udp = await stream.stop();
    t.comment(`UDP: ${JSON.stringify(udp)}`);
    t.equal(vxnetTable(h1), want, 'the table equals the desired state');
    t.ok(udp.received > 100, 'the stream flowed');
    t.ok(udp.lost <= 1, `lost ${udp.lost} datagrams`);
    t.equal(udp.src, '198.51.100.1', 'masqueraded all along');
    t.equal(await tcpHello(out, '198.51.100.1', 8080), 'hello 198.51.100.200', 'the published port came back from the state file');
  });

  t.test('removing the endpoint removes the mapping', async (t) => {
    await agent1.deleteEndpoint(a1.id);
    t.notMatch(vxnetTable(h1), /dport 8080/);
    t.match(await tcpHello(out, '198.51.100.1', 8080, 1000), /^error|^timeout/);
  });

  t.test('the foreign nft table and iptables nat rule survived every apply byte for byte', async (t) => {
    t.equal(foreignNft(), foreignBefore.nft);
    t.equal(foreignIptables(), foreignBefore.iptables);
    t.match(foreignBefore.iptables, /-A POSTROUTING -s 192\.0\.2\.0\/24 -j RETURN/);
  });

  void a2;
  void i1;
}
