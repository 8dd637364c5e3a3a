/**
 * The Agent's decisions about traffic in and out, with fakes at its seams (fake data
 * plane, the real Firewall over a fake nft, a port probe with ports marked in use):
 * uplinks only behind the firewall and never for internal networks or without
 * nftables, published ports checked before anything is made and rolled back on
 * failure, expose and unexpose, restarts rebuilding the table from state, and leave.
 * The same on the real kernel is egress-kernel.ts.
 */
import t from 'tap';
import { writeFileSync } from 'node:fs';
import { silentLogger } from '@vxnet/common';
import type { AgentStatus, ExposeResult, LocalEndpoint } from '@vxnet/common/api';

import { buildApi } from '../src/api/server.js';
import { HOST, NET, SANDBOX, attach, fixture, k, network, nothingLeaked, nsOf, readJson, type Fixture } from './helpers/agent-fixture.js';

const INTERNAL = network('c', { name: 'net-i', subnet: '10.130.0.0/16', vni: 4098, internal: true });
const UPLINK = `vxu-${NET.id.slice(0, 11)}`;
const web = (f: Fixture, over: object = {}) => attach(f, 'web', { ports: [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }], ...over });

/** nft applies and data-plane calls, in the order they happened. */
function recordOrder(f: Fixture): string[] {
  const apply = f.nft.apply.bind(f.nft);
  f.nft.apply = (text) => {
    f.dp.calls.push('nft apply');
    return apply(text);
  };
  return f.dp.calls;
}

t.test('a network gets its uplink after the firewall holds it; the uplink is recorded before it is made', async (t) => {
  const f = await fixture(t, [NET], { firewall: 'ok' });
  await f.agent.start();
  t.same(f.agent.egress, { available: true, reason: null });
  const calls = recordOrder(f);
  let recordedFirst: boolean | undefined;
  const ensureUplink = f.dp.ensureUplink.bind(f.dp);
  f.dp.ensureUplink = (spec) => {
    recordedFirst = ((readJson(f.files.uplinks) as Array<{ name: string }> | undefined) ?? []).some((u) => u.name === spec.hostIfname);
    return ensureUplink(spec);
  };
  await attach(f);
  const i = calls.indexOf('nft apply');
  t.ok(i >= 0 && i < calls.indexOf(`ensureUplink ${nsOf(NET)}`), 'table applied, then the uplink');
  t.equal(recordedFirst, true, 'recorded before it was made');
  t.match(f.dp.uplinks.get(UPLINK), { netns: nsOf(NET), hostSubnet: /^10\.128\.\d+\.0\/24$/, mtu: 1450 });
  t.match(f.nft.table, new RegExp(`elements = \\{ "${UPLINK}" \\}`));
  t.match(f.nft.table, /set networks \{[^}]*elements = \{ 10\.128\.0\.0\/16 \}/);
});

t.test('an internal network gets no uplink; its CIDR is in internal_nets', async (t) => {
  const f = await fixture(t, [NET, INTERNAL], { firewall: 'ok' });
  await f.agent.start();
  await f.agent.createEndpoint({ network: INTERNAL.name, sandbox: SANDBOX, name: 'db', container: 'ctr-db' });
  t.same([...f.dp.uplinks.keys()], [], 'no uplink');
  t.notOk(f.dp.calls.some((c) => c.startsWith('ensureUplink')));
  t.match(f.nft.table, /set internal_nets \{[^}]*elements = \{ 10\.130\.0\.0\/16 \}/);
  t.notMatch(f.nft.table, /set uplinks \{[^}]*elements/, 'no uplink in the set');
});

t.test('nftables unusable: egress unavailable with the reason, no uplink, ports and expose refused; internal networks still work', async (t) => {
  const f = await fixture(t, [NET, INTERNAL], { firewall: 'broken' });
  await f.agent.start();
  t.equal(f.agent.egress.available, false);
  t.match(f.agent.egress.reason, /nftables is not usable: could not run nft: nft not found/);
  await attach(f);
  t.same([...f.dp.uplinks.keys()], [], 'no uplink: isolation could not be enforced');
  await t.rejects(web(f), { code: 'VXNET_EGRESS_UNAVAILABLE', message: /^could not publish ports of "web": traffic in and out of the overlay is unavailable on host h1 \(nftables is not usable/ });
  await t.rejects(f.agent.expose(NET.name), { code: 'VXNET_EGRESS_UNAVAILABLE' });
  await f.agent.createEndpoint({ network: INTERNAL.name, sandbox: SANDBOX, name: 'db', container: 'ctr-db' });
  t.same(f.nft.calls, ['check'], 'nft was only asked whether it works');
});

t.test('no firewall configured: egress unavailable, nothing to do with nft', async (t) => {
  const f = await fixture(t);
  await f.agent.start();
  t.same(f.agent.egress, { available: false, reason: 'no firewall is configured for this agent' });
  await attach(f);
  t.same([...f.dp.uplinks.keys()], []);
});

t.test('published ports: the host address defaults to the underlay, the table gets DNAT, the state file keeps them', async (t) => {
  const f = await fixture(t, [NET], { firewall: 'ok' });
  await f.agent.start();
  const ep = await web(f, { ports: [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }, { hostIp: '192.0.2.100', hostPort: 5353, containerPort: 53, protocol: 'udp' }] });
  t.same(ep.ports, [
    { hostIp: '192.0.2.1', hostPort: 8080, containerPort: 80, protocol: 'tcp' },
    { hostIp: '192.0.2.100', hostPort: 5353, containerPort: 53, protocol: 'udp' },
  ]);
  t.same(f.probed, [[{ ip: '192.0.2.1', port: 8080, protocol: 'tcp' }, { ip: '192.0.2.100', port: 5353, protocol: 'udp' }]], 'both bound once to check');
  t.match(f.nft.table, `ip daddr 192.0.2.1 tcp dport 8080 dnat to ${ep.ip}:80 comment "endpoint ${ep.id.slice(0, 12)}"`);
  t.match(f.nft.table, `ip daddr 192.0.2.100 udp dport 5353 dnat to ${ep.ip}:53`);
  t.same((readJson(f.files.endpoints) as LocalEndpoint[])[0]?.ports, ep.ports);
  t.same((await attach(f, 'plain')).ports, [], 'an endpoint without ports has none');

  await f.agent.deleteEndpoint(ep.id);
  t.notMatch(f.nft.table, /dnat to/, 'removing the endpoint removes the mapping');
});

t.test('refused ports make nothing: internal network, foreign address, taken by another endpoint, used by a process', async (t) => {
  const f = await fixture(t, [NET, INTERNAL], { firewall: 'ok' });
  await f.agent.start();
  await t.rejects(f.agent.createEndpoint({ network: INTERNAL.name, sandbox: SANDBOX, name: 'db', container: 'ctr-db', ports: [{ hostPort: 5432, containerPort: 5432, protocol: 'tcp' }] }), {
    code: 'VXNET_NETWORK_INTERNAL', message: 'could not publish ports of "db": network "net-i" is internal (no way in or out of the overlay)',
  });
  await t.rejects(web(f, { ports: [{ hostIp: '203.0.113.9', hostPort: 8080, containerPort: 80, protocol: 'tcp' }] }), {
    code: 'VXNET_PORT_UNAVAILABLE', message: 'could not publish 203.0.113.9:8080/tcp: 203.0.113.9 is not an address of host h1 (its addresses: 192.0.2.1, 192.0.2.100; or 0.0.0.0 for all)',
  });
  f.portsInUse.set('192.0.2.1:8080/tcp', 'EADDRINUSE');
  await t.rejects(web(f), { code: 'VXNET_PORT_UNAVAILABLE', message: 'could not publish 192.0.2.1:8080/tcp: a process on host h1 is using it' });
  await nothingLeaked(t, f);
  t.same(f.dp.calls.filter((c) => !c.startsWith('listHostAddresses')), [], 'no kernel change at all');

  f.portsInUse.clear();
  const first = await web(f);
  const table = f.nft.table;
  const calls = f.dp.calls.length;
  await t.rejects(attach(f, 'web2', { container: 'ctr-web2', ports: [{ hostIp: '0.0.0.0', hostPort: 8080, containerPort: 8000, protocol: 'tcp' }] }), {
    code: 'VXNET_PORT_UNAVAILABLE', message: 'could not publish 0.0.0.0:8080/tcp: 192.0.2.1:8080/tcp is published for container ctr-web (endpoint "web") on host h1',
  });
  t.equal(f.nft.table, table, 'the table is unchanged');
  t.same(f.agent.endpoints().map((e) => e.id), [first.id], 'no second endpoint');
  t.same(f.dp.calls.slice(calls).filter((c) => !c.startsWith('listHostAddresses')), [], 'no kernel change');
});

t.test('a refused nft apply rolls the endpoint back: nothing half-made, the table as before', async (t) => {
  const f = await fixture(t, [NET], { firewall: 'ok' });
  await f.agent.start();
  const first = await attach(f, 'first');
  const table = f.nft.table;
  f.nft.failApply = 'Error: Could not process rule: Cannot allocate memory';
  const apply = f.nft.apply.bind(f.nft);
  let applies = 0;
  f.nft.apply = async (text) => {
    if (++applies === 2) f.nft.failApply = undefined; // the rollback's re-apply goes through
    return apply(text);
  };
  await t.rejects(web(f), { code: 'VXNET_FIREWALL_FAILED', message: /Cannot allocate memory/ });
  t.same(f.agent.endpoints().map((e) => e.id), [first.id], 'only the first endpoint');
  t.same([...f.dp.kernel.get(nsOf(NET))!.veths], [first.hostIfname], 'its veth was deleted');
  t.same((await f.store.list(k.endpoints)).items.map((kv) => kv.key), [k.endpoint(NET.id, first.id)], 'no store record');
  t.equal(f.nft.table, table, 'the table holds no port');
});

t.test('a restart rebuilds the table from state: ports back, stale elements gone', async (t) => {
  const f = await fixture(t, [NET], { firewall: 'ok' });
  await f.agent.start();
  const ep = await web(f);
  const want = f.nft.table;
  // behind the agent's back while it is down: a stale port and a stale uplink in the table
  f.nft.table = want?.replace('ip daddr 192.0.2.1', 'ip daddr 192.0.2.1 tcp dport 9999 dnat to 10.128.9.9:1\n\t\tip daddr 192.0.2.1').replace(`"${UPLINK}"`, `"${UPLINK}", "vxu-00000000000"`);
  const agent = await f.restart();
  await agent.start();
  t.equal(f.nft.table, want, 'exactly the desired table');
  t.same(agent.endpoints()[0]?.ports, ep.ports, 'the ports came back with the endpoint');
  t.ok(f.dp.uplinks.has(UPLINK));
});

t.test('a restart without nftables removes the uplinks it had made (recorded), and only those', async (t) => {
  const f = await fixture(t, [NET], { firewall: 'ok' });
  await f.agent.start();
  await attach(f);
  f.dp.uplinks.set('vxu-fffffffffff', { netns: 'elsewhere', hostIfname: 'vxu-fffffffffff', hostSubnet: '10.200.0.0/24', mtu: 1450 });
  f.nft.failCheck = 'nft: command not found';
  const agent = await f.restart();
  await agent.start();
  t.equal(agent.egress.available, false);
  t.same([...f.dp.uplinks.keys()], ['vxu-fffffffffff'], 'ours deleted, the unrecorded one left alone');
  t.same(readJson(f.files.uplinks), [], 'and forgotten');
});

t.test('an endpoints.json with an invalid published port stops the start before anything is changed', async (t) => {
  const f = await fixture(t, [NET], { firewall: 'ok' });
  await f.agent.start();
  await web(f);
  await f.agent.stop();
  const eps = readJson(f.files.endpoints) as LocalEndpoint[];
  eps[0]!.ports = [{ hostIp: '198.51.100.1; flush ruleset', hostPort: 8080, containerPort: 80, protocol: 'tcp' }];
  writeFileSync(f.files.endpoints, JSON.stringify(eps));
  const agent = await f.restart();
  const applies = f.nft.calls.length;
  await t.rejects(agent.start(), { code: 'VXNET_STATE_UNREADABLE', message: /entry 0 has an invalid published port/ });
  t.equal(f.nft.calls.length, applies, 'nft not asked anything');
});

t.test('expose: an address of the host subnet, reserved, on the uplink; idempotent; unexpose; 404; restored after restart', async (t) => {
  const f = await fixture(t, [NET, INTERNAL], { firewall: 'ok' });
  await f.agent.start();
  const r = await f.agent.expose(NET.id.slice(0, 6));
  t.match(r, { network: NET.id, networkName: NET.name, ip: /^10\.128\.\d+\.2$/, prefixLength: 16 });
  t.same(f.dp.uplinks.get(UPLINK)?.expose, { ip: r.ip, network: NET.subnet });
  t.same(await f.agent.expose(NET.name), r, 'twice: the same address');
  t.equal(f.agent.exposedIp(NET.id), r.ip);
  const ep = await attach(f);
  t.not(ep.ip, r.ip, 'no container gets the exposed address');
  await t.rejects(attach(f, 'c9', { ip: r.ip }), { code: 'VXNET_ADDRESS_UNAVAILABLE' });

  await f.restart().then((a) => a.start());
  t.equal(f.agent.exposedIp(NET.id), r.ip, 'remembered');
  t.same(f.dp.uplinks.get(UPLINK)?.expose, { ip: r.ip, network: NET.subnet }, 'put back on the uplink');

  t.same(await f.agent.unexpose(NET.name), r);
  t.equal(f.dp.uplinks.get(UPLINK)?.expose, undefined, 'the uplink lost it');
  t.same(readJson(f.files.exposed), []);
  await t.rejects(f.agent.unexpose(NET.name), { code: 'VXNET_NOT_EXPOSED', message: 'network "net-a" is not exposed on host h1' });
  await t.rejects(f.agent.expose(INTERNAL.name), { code: 'VXNET_NETWORK_INTERNAL', message: 'could not expose host h1: network "net-i" is internal (no way in or out of the overlay)' });
  await t.rejects(f.agent.expose('nope'), { code: 'VXNET_NETWORK_NOT_FOUND' });
});

t.test('expose on a network not joined yet joins it; a failure undoes the join', async (t) => {
  const f = await fixture(t, [NET], { firewall: 'ok' });
  await f.agent.start();
  f.dp.failNext('ensureUplink');
  await t.rejects(f.agent.expose(NET.name), { code: 'VXNET_DATAPLANE_FAILED' });
  await nothingLeaked(t, f);
  t.same([...f.dp.uplinks.keys()], []);
  t.notMatch(f.nft.table, /elements/, 'the table holds nothing of it');
  const r = await f.agent.expose(NET.name);
  t.equal(f.dp.uplinks.get(UPLINK)?.expose?.ip, r.ip);
});

t.test('a removed network takes its uplink, exposure and table entries along', async (t) => {
  const f = await fixture(t, [NET], { firewall: 'ok' });
  await f.agent.start();
  await attach(f);
  await f.agent.expose(NET.name);
  await f.store.delete(k.network(NET.id));
  await t.resolves(async () => {
    for (let i = 0; i < 100 && f.dp.uplinks.size > 0; i++) await new Promise((r) => setTimeout(r, 5));
  });
  t.same([...f.dp.uplinks.keys()], []);
  t.same(readJson(f.files.uplinks), []);
  t.same(readJson(f.files.exposed), []);
  t.notMatch(f.nft.table, /elements/);
});

t.test('the drift check re-applies an edited table and stays quiet otherwise', async (t) => {
  const f = await fixture(t, [NET], { firewall: 'ok' });
  await f.agent.start();
  await web(f);
  const want = f.nft.table;
  t.equal(await f.agent.checkFirewall(), false);
  f.nft.table = want?.replace(/\n.*dport 8080.*\n/, '\n');
  t.equal(await f.agent.checkFirewall(), true);
  t.equal(f.nft.table, want);
});

t.test('the API: expose and unexpose by name, status with egress, internal and exposedIp', async (t) => {
  const f = await fixture(t, [NET, INTERNAL], { firewall: 'ok' });
  await f.agent.start();
  await f.agent.createEndpoint({ network: INTERNAL.name, sandbox: SANDBOX, name: 'db', container: 'ctr-db' });
  const app = buildApi(f.agent, f.leases, HOST, silentLogger());
  t.teardown(() => app.close());
  const exposed = await app.inject({ method: 'POST', url: `/v1/networks/${NET.name}/expose` });
  t.equal(exposed.statusCode, 200);
  const r = exposed.json() as ExposeResult;
  t.match(r, { network: NET.id, networkName: NET.name, ip: /^10\.128\./, prefixLength: 16 });
  const status = (await app.inject({ method: 'GET', url: '/v1/status' })).json() as AgentStatus;
  t.same(status.egress, { available: true, reason: null });
  t.match(status.networks.find((n) => n.id === NET.id), { internal: false, exposedIp: r.ip });
  t.match(status.networks.find((n) => n.id === INTERNAL.id), { internal: true, exposedIp: null });
  t.equal((await app.inject({ method: 'POST', url: `/v1/networks/${INTERNAL.name}/expose` })).statusCode, 409);
  t.equal((await app.inject({ method: 'DELETE', url: `/v1/networks/${NET.id}/expose` })).statusCode, 200);
  const again = await app.inject({ method: 'DELETE', url: `/v1/networks/${NET.id}/expose` });
  t.equal(again.statusCode, 404);
  t.equal((again.json() as { code: string }).code, 'VXNET_NOT_EXPOSED');
  const bad = await app.inject({ method: 'POST', url: '/v1/endpoints', payload: { network: NET.name, sandbox: SANDBOX, name: 'x', ports: [{ hostPort: 0, containerPort: 80, protocol: 'tcp' }] } });
  t.equal(bad.statusCode, 400, 'port 0 refused by the schema');
  const sctp = await app.inject({ method: 'POST', url: '/v1/endpoints', payload: { network: NET.name, sandbox: SANDBOX, name: 'x', ports: [{ hostPort: 80, containerPort: 80, protocol: 'sctp' }] } });
  t.equal(sctp.statusCode, 400, 'an unknown protocol refused by the schema');
});
