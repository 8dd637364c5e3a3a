/**
 * The agent's metrics on the fake data plane and the in-memory store: the scrape-time
 * gauges follow the agent's state (peers as programmed, endpoints, hosts alive, lease
 * expiry), and applies, failures, fixes and watch events are counted where they happen.
 */
import t, { type Test } from 'tap';
import type { SubnetLease } from '@vxnet/common';
import { daemonMetrics } from '@vxnet/common/metrics';
import { AgentMetrics } from '../src/metrics/agent-metrics.js';
import { agentMetricsSource } from '../src/metrics/agent-metrics-source.js';
import { HOST, NET, attach, fixture, k, type Fixture } from './helpers/agent-fixture.js';

function samples(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const i = line.lastIndexOf(' ');
    out.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return out;
}

async function withMetrics(t: Test) {
  const m = daemonMetrics('agent', 'test');
  let f: Fixture | undefined;
  const sink = new AgentMetrics(m, agentMetricsSource({ agent: () => f?.agent, leases: { all: () => f?.leases.all() ?? [] }, dns: undefined, store: { get: (key) => f!.store.get(key) }, probeKey: k.allocations }));
  f = await fixture(t, [NET], { metrics: sink });
  const scrape = async () => samples(await m.registry.metrics());
  return { f, scrape, sink };
}

async function addPeer(f: Fixture, host: string, subnet: string, mac: string): Promise<void> {
  const now = new Date().toISOString();
  const lease: SubnetLease = { networkId: NET.id, subnet, host, underlayIp: '192.0.2.9', vtepMac: mac, acquiredAt: now, renewedAt: now, expiresAt: now };
  await f.store.put(k.lease(NET.id, subnet), JSON.stringify(lease));
  await f.store.put(k.hostAlive(host), JSON.stringify({ name: host }));
}

const settle = () => new Promise((resolve) => setTimeout(resolve, 50));

t.test('peers, endpoints, hosts alive and lease expiry follow the agent at scrape time', async (t) => {
  const { f, scrape } = await withMetrics(t);
  await addPeer(f, 'h2', '10.128.200.0/24', '02:00:00:00:02:02');
  await f.agent.start();
  await attach(f);
  await settle();
  let s = await scrape();
  const net = `{network="${NET.name}"}`;
  t.equal(s.get(`vxnet_agent_peers${net}`), 1);
  t.equal(s.get(`vxnet_agent_endpoints${net}`), 1);
  t.equal(s.get('vxnet_agent_hosts_alive'), 2, `${HOST} and h2`);
  t.equal(s.get('vxnet_agent_store_up'), 1);
  const lease = f.leases.all()[0];
  t.equal(s.get(`vxnet_agent_subnet_lease_expiry_timestamp_seconds${net}`), Date.parse(lease!.expiresAt) / 1000);
  t.ok((s.get('vxnet_agent_dataplane_apply_seconds_count') ?? 0) >= 1, 'the peer batch was timed');
  t.ok((s.get('vxnet_agent_store_watch_events_total{type="put"}') ?? 0) >= 1);

  await addPeer(f, 'h3', '10.128.201.0/24', '02:00:00:00:02:03');
  await settle();
  t.equal((await scrape()).get(`vxnet_agent_peers${net}`), 2);
  await f.store.delete(k.hostAlive('h3'));
  await settle();
  s = await scrape();
  t.equal(s.get(`vxnet_agent_peers${net}`), 1, 'a dead host drops out of the gauge with its routes');
  t.equal(s.get('vxnet_agent_hosts_alive'), 2);
  t.ok((s.get('vxnet_agent_store_watch_events_total{type="delete"}') ?? 0) >= 1);
  for (const key of s.keys()) t.notMatch(key, /10\.128\.|192\.0\.2\.|ctr-c1/, `no address or container in ${key}`);
});

t.test('a failed apply is counted; a reconcile counts what it repaired', async (t) => {
  const { f, scrape } = await withMetrics(t);
  await f.agent.start();
  await attach(f);
  f.dp.failNext('ensurePeers');
  await addPeer(f, 'h2', '10.128.200.0/24', '02:00:00:00:02:02');
  await settle();
  let s = await scrape();
  t.equal(s.get('vxnet_agent_dataplane_failures_total'), 1);
  // someone deletes the peer's entries behind the agent's back; the restart's reconcile puts them back
  f.dp.kernel.get(`vxnet-${NET.id.slice(0, 12)}`)?.peers.clear();
  await f.restart();
  await f.agent.start();
  await settle();
  s = await scrape();
  t.equal(s.get(`vxnet_agent_peers{network="${NET.name}"}`), 1);
  t.equal(s.get('vxnet_agent_reconcile_fixes_total{kind="peer"}'), 1);
  t.equal(s.get('vxnet_agent_reconcile_fixes_total{kind="namespace"}'), 0, 'every kind is exported from the start');
});
