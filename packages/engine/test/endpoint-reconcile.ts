/** The reconcile decision (pure) and when the reconciler runs a pass, on a fake agent. */
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { silentLogger } from '@vxnet/common';
import { EndpointReconciler, ownedByEngine, planReconcile } from '../src/endpoint-reconcile.js';
import type { ContainerRecord } from '../src/state/container-record.js';
import { FakeAgent } from './helpers/fakes.js';

const hex = () => randomBytes(32).toString('hex');

function record(id: string, endpointIds: string[]): ContainerRecord {
  return {
    id, name: `c-${id.slice(0, 4)}`, image: 'busybox', rootfs: '/', command: ['sh'], env: [], hostname: 'x', networkMode: 'overlay', netContainer: null,
    netns: `vxnet-s-${id.slice(0, 12)}`, netnsPath: null, status: 'running', shim: null, init: null, exitCode: null, createdAt: '', startedAt: null, finishedAt: null,
    endpoints: endpointIds.map((endpointId) => ({ endpointId, network: 'net1', networkId: 'n1', ip: '10.0.0.2', mac: '', gateway: '10.0.0.1', prefixLength: 24, ifname: 'eth0', aliases: [], mtu: 1450 })),
  };
}

t.test('ownership: owner "engine", or no owner and a 64-hex container id', async (t) => {
  t.ok(ownedByEngine({ owner: 'engine', container: 'web' }));
  t.ok(ownedByEngine({ container: hex() }));
  t.notOk(ownedByEngine({ container: 'web' }));
  t.notOk(ownedByEngine({ owner: 'cni', container: hex() }));
});

t.test('plan: orphans of unknown containers and unrecorded endpoints go; others stay; in-flight waits', async (t) => {
  const agent = new FakeAgent();
  const known = hex();
  const busy = hex();
  const mine = agent.add({ container: known, owner: 'engine' });
  const unrecorded = agent.add({ container: known, owner: 'engine' });
  const unknown = agent.add({ container: hex(), owner: 'engine' });
  const legacy = agent.add({ container: hex() });
  const inFlight = agent.add({ container: busy, owner: 'engine' });
  agent.add({ container: hex(), owner: 'cni' });
  agent.add({ container: 'web' });
  const lost = 'f'.repeat(16);
  const containers = new Map([[known, record(known, [mine.id, lost])], [busy, record(busy, ['0'.repeat(16)])]]);
  const plan = planReconcile([...agent.endpoints.values()], containers, new Set([busy]));
  t.same(plan.orphans.map((o) => [o.endpoint.id, o.reason]).sort(), [
    [unrecorded.id, 'not in its container record'], [unknown.id, 'unknown container'], [legacy.id, 'unknown container'],
  ].sort());
  t.same(plan.deferred.map((e) => e.id), [inFlight.id]);
  t.same(plan.missing.map((m) => [m.container.id, m.endpoint.endpointId]), [[known, lost]], 'the in-flight container is not reported');
});

t.test('plan: a released endpoint (ports withdrawn at stop) still at the agent is an orphan, and is not missing when gone', async (t) => {
  const agent = new FakeAgent();
  const id = hex();
  const stale = agent.add({ container: id, owner: 'engine' });
  const rec = record(id, [stale.id, 'e'.repeat(16)]);
  for (const e of rec.endpoints) e.released = true;
  const plan = planReconcile([...agent.endpoints.values()], new Map([[id, rec]]), new Set());
  t.same(plan.orphans.map((o) => [o.endpoint.id, o.reason]), [[stale.id, 'not in its container record']]);
  t.same(plan.missing, [], 'a released endpoint the agent no longer has is expected');
});

t.test('passes: at start, on a new instance, after a call without answer, while work is deferred', async (t) => {
  const agent = new FakeAgent();
  const containers = new Map<string, ContainerRecord>();
  const inFlight = new Set<string>();
  const r = new EndpointReconciler({ agent, containers: () => containers, inFlight: () => inFlight, log: silentLogger(), pollMs: 3_600_000 });
  const lists = () => agent.calls.filter((c) => c.method === 'listEndpoints').length;

  await r.tick();
  t.equal(lists(), 1, 'first answer: a pass');
  await r.tick();
  t.equal(lists(), 1, 'nothing new: no pass');
  agent.restart();
  await r.tick();
  t.equal(lists(), 2, 'new instance: a pass');
  r.agentUnreachable();
  await r.tick();
  t.equal(lists(), 3, 'after a call without answer: a pass');

  agent.down = true;
  await r.tick();
  agent.down = false;
  await r.tick();
  t.equal(lists(), 4, 'agent back (same instance): a pass');

  const busy = hex();
  inFlight.add(busy);
  const ep = agent.add({ container: busy, owner: 'engine' });
  r.agentUnreachable();
  await r.tick();
  await r.tick();
  t.equal(lists(), 6, 'a deferred endpoint keeps passes coming');
  t.ok(agent.endpoints.has(ep.id));
  inFlight.delete(busy); // the run failed and was rolled back
  await r.tick();
  t.notOk(agent.endpoints.has(ep.id), 'then removed');
  await r.tick();
  t.equal(lists(), 7, 'and the passes stop');

  const orphan = agent.add({ container: hex(), owner: 'engine' });
  agent.restart();
  agent.failAt('deleteEndpoint', 1, 'unreachable');
  await r.tick();
  t.ok(agent.endpoints.has(orphan.id), 'delete got no answer');
  await r.tick();
  t.notOk(agent.endpoints.has(orphan.id), 'retried on the next poll');
  r.stop();
});
