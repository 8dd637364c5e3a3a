/**
 * The Agent on the real kernel and a real etcd (root): one lease write per join,
 * carrying the VTEP MAC; an unreadable state file stops the agent binary with one
 * line and exit code 1, and nothing in the kernel or the store changes; a restart
 * keeps a foreign namespace named like the agent's, and drops an endpoint whose
 * sandbox is gone. Namespaces are this file's own (unique prefix), removed at teardown.
 */
import t from 'tap';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { keys, silentLogger, type NetworkSpec, type SubnetLease, type WatchEvent } from '@vxnet/common';
import { EtcdStore } from '@vxnet/common/etcd';
import { etcdMissing, startTestEtcd } from '@vxnet/common/testing';
import { listNetns, netnsPath } from '@vxnet/netns';
import { Agent } from '../src/agent.js';
import { NetlinkDataPlane } from '../src/dataplane/index.js';
import { LeaseManager } from '../src/lease/lease-manager.js';
import { HostRegistration } from '../src/registration/host-registration.js';
import { ip, ipJson, linkNames, makeNs, makeOneHost, removeAll, skipReason, testPrefix } from './dataplane/helpers/sim.js';

const AGENT_BIN = fileURLToPath(new URL('../../bin/vxnet-agent.js', import.meta.url));
const skip = skipReason() ?? etcdMissing();
const prefix = testPrefix('ak');

if (skip) {
  t.plan(0, `skip: ${skip}`);
} else {
  const etcd = await startTestEtcd(`${prefix}-etcd`);
  const store = new EtcdStore({ endpoints: [etcd.endpoint], logger: silentLogger() });
  const k = keys(`/${prefix}/`);
  const dir = mkdtempSync(join(tmpdir(), 'vxnet-agent-kernel-'));
  const files = {
    endpoints: join(dir, 'endpoints.json'), namespaces: join(dir, 'namespaces.json'), subnets: join(dir, 'subnets.json'),
    uplinks: join(dir, 'uplinks.json'), exposed: join(dir, 'exposed.json'),
  };
  const host = makeOneHost(prefix);
  const agentPrefix = `${prefix}-n-`;
  const running: Agent[] = [];
  t.teardown(async () => {
    for (const a of running) await a.stop().catch(() => undefined);
    await store.close();
    await etcd.destroy();
    removeAll(prefix);
    rmSync(dir, { recursive: true, force: true });
  });

  const net: NetworkSpec = {
    id: 'e'.repeat(64), name: 'net-e', driver: 'overlay', subnet: '10.160.0.0/16', hostSubnetLength: 24, vni: 5100, mtu: null,
    internal: false, labels: {}, options: {}, createdAt: new Date().toISOString(),
  };
  await store.put(k.network(net.id), JSON.stringify(net));
  const netns = `${agentPrefix}${net.id.slice(0, 12)}`;
  const foreign = makeNs(`${agentPrefix}ffffffffffff`); // named like the agent's namespaces, not made by it
  const sandbox = makeNs(`${prefix}-s1`);

  const startAgent = async (): Promise<Agent> => {
    const log = silentLogger();
    const leases = new LeaseManager({ store, keys: k, host: 'h1', underlayIp: host.underlayIp, ttlSeconds: 3600, renewMarginSeconds: 600, stateFile: files.subnets, log });
    const registration = new HostRegistration({ store, keys: k, host: 'h1', underlayIp: host.underlayIp, underlayInterface: 'eth0', agentVersion: 'test', ttlSeconds: 5, log, readRoutes: async () => [] });
    const agent = new Agent({
      store, keys: k, host: 'h1', underlayIp: host.underlayIp, underlayDevice: 'eth0', underlayMtu: 1500, netnsPrefix: agentPrefix,
      endpointsFile: files.endpoints, namespacesFile: files.namespaces, uplinksFile: files.uplinks, exposedFile: files.exposed, dataplane: new NetlinkDataPlane({ agentNetns: host.ns, log }), leases, registration, log,
    });
    running.push(agent);
    await agent.start();
    return agent;
  };
  const stopAgent = async (agent: Agent) => {
    running.splice(running.indexOf(agent), 1);
    await agent.stop();
  };

  /** The agent binary in the host's namespace; resolves with its exit code and stderr (killed by pid after 15 s). */
  const runBinary = () =>
    new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const child = spawn('nsenter', [`--net=${netnsPath(host.ns)}`, process.execPath, AGENT_BIN,
        '--host', 'h1', '--store', etcd.storeUrl, '--store-prefix', `/${prefix}/`, '--underlay-ip', host.underlayIp, '--underlay-interface', 'eth0',
        '--state-dir', dir, '--socket', join(dir, 'agent.sock'), '--log-file', join(dir, 'agent.log')], { stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const timer = setTimeout(() => child.pid && process.kill(child.pid, 'SIGKILL'), 15_000);
      child.on('exit', (code) => {
        clearTimeout(timer);
        resolve({ code, stderr });
      });
    });

  let hostIfname = '';

  t.test('a join writes its lease once, with the VTEP MAC', async (t) => {
    const agent = await startAgent();
    const events: WatchEvent[] = [];
    const from = await store.list(k.leases);
    const watch = await store.watch(k.leases, from, { onEvents: (ev) => void events.push(...ev), onResync: () => undefined, onError: () => undefined });
    const ep = await agent.createEndpoint({ network: net.name, sandbox: netnsPath(sandbox), name: 'c1', container: 'ctr-1', owner: 'engine' });
    hostIfname = ep.hostIfname;
    await new Promise((resolve) => setTimeout(resolve, 300)); // let the watch deliver anything else there is
    await watch.close();
    const puts = events.filter((e) => e.type === 'put');
    t.equal(events.length, 1, 'exactly one event under leases/');
    t.equal(puts.length, 1, 'a put');
    const lease = puts[0]?.type === 'put' ? (JSON.parse(puts[0].kv.value) as SubnetLease) : undefined;
    const [vx] = ipJson<Array<{ address: string }>>('-n', netns, 'link', 'show', 'vxlan0');
    t.equal(lease?.vtepMac, vx?.address, 'carrying the MAC of vxlan0');
    t.equal(lease?.host, 'h1');
    t.same(linkNames(sandbox), ['eth0', 'lo'], 'the sandbox has its interface');
    t.same((JSON.parse(readFileSync(files.namespaces, 'utf8')) as Array<{ name: string }>).map((n) => n.name), [netns], 'the namespace is recorded');
    await stopAgent(agent);
  });

  const kernelState = () => ({
    namespaces: listNetns(prefix),
    agentLinks: linkNames(netns),
    sandboxLinks: linkNames(sandbox),
    routes: ip('-n', netns, 'route', 'show'),
  });

  for (const name of ['endpoints', 'namespaces', 'subnets'] as const) {
    t.test(`${name}.json unreadable: the binary stops with one line, exit 1, and changes nothing`, async (t) => {
      const file = files[name];
      const original = readFileSync(file, 'utf8');
      const before = kernelState();
      const revision = (await store.list(`/${prefix}/`)).revision;
      writeFileSync(file, original.slice(0, Math.floor(original.length / 2)));
      try {
        const { code, stderr } = await runBinary();
        t.equal(code, 1, 'exit code 1');
        const lines = stderr.split('\n').filter(Boolean);
        t.equal(lines.length, 1, `one line on stderr: ${stderr}`);
        t.match(lines[0], new RegExp(`^vxnet-agent: cannot read state file ${file} \\(.+\\): fix or restore it; nothing was changed\\. To rebuild from scratch, `));
        t.same(kernelState(), before, 'every namespace, veth and route is still there');
        t.equal((await store.list(`/${prefix}/`)).revision, revision, 'nothing written to or deleted from the store');
      } finally {
        writeFileSync(file, original);
      }
    });
  }

  t.test('a restart keeps what is not recorded, and drops an endpoint whose sandbox is gone', async (t) => {
    let agent = await startAgent();
    t.ok(listNetns(prefix).includes(foreign), 'the foreign namespace named like ours is untouched');
    t.same(agent.endpoints().map((e) => e.hostIfname), [hostIfname], 'the endpoint with a live sandbox is kept');
    t.ok(linkNames(netns).includes(hostIfname));
    await stopAgent(agent);

    ip('netns', 'delete', sandbox); // the sandbox goes while the agent is down
    agent = await startAgent();
    t.same(agent.endpoints(), [], 'the endpoint is dropped');
    t.notOk(linkNames(netns).includes(hostIfname), 'its veth is gone');
    t.same((await store.list(k.endpoints)).items, [], 'its store record is gone');
    t.ok(listNetns(prefix).includes(foreign), 'the foreign namespace is still untouched');
    await stopAgent(agent);
  });
}
