/**
 * The real thing: two simulated hosts joined by an underlay veth, a data plane
 * running in each host's namespace, a container namespace with an endpoint on
 * each, peers programmed both ways, and ICMP across the VXLAN overlay.
 */
import t from 'tap';

import { NetlinkDataPlane } from '../../src/dataplane/netlink-data-plane.js';
import type { EndpointSpec, NetworkPlaneSpec, Peer } from '../../src/dataplane/data-plane.js';
import { listNetns, netnsPath } from '@vxnet/netns';
import { ip, linkNames, macFor, makeNs, makeTwoHosts, msSince, pings, removeAll, skipReason, testPrefix, type SimHost } from './helpers/sim.js';

const skip = skipReason();
const prefix = testPrefix('2h');

/** One network as seen from one host: its plane spec and one container. */
interface Site {
  host: SimHost;
  dp: NetlinkDataPlane;
  spec: NetworkPlaneSpec;
  sandbox: string;
  ep: EndpointSpec;
  peer?: Peer;
}

function site(host: SimHost, dp: NetlinkDataPlane, net: string, vni: number, thirdOctet: number, sandbox: string): Site {
  const base = `10.${net === 'a' ? 128 : 129}.${thirdOctet}`;
  const ctrIp = `${base}.2`;
  return {
    host,
    dp,
    sandbox,
    spec: {
      netns: `${host.ns}.n-${net.repeat(12)}`,
      vni,
      hostSubnet: `${base}.0/24`,
      gateway: `${base}.1`,
      vtepIp: `${base}.0`,
      mtu: 1450,
      underlayIp: host.underlayIp,
      underlayDevice: 'eth0',
    },
    ep: {
      sandboxNetnsPath: netnsPath(sandbox),
      ifname: 'eth0',
      hostIfname: `ve-${net}-${thirdOctet}`,
      ip: ctrIp,
      prefixLength: 24,
      mac: macFor(ctrIp),
      gateway: `${base}.1`,
      mtu: 1450,
    },
  };
}

async function up(s: Site): Promise<void> {
  const start = performance.now();
  const { vtepMac } = await s.dp.ensureNetwork(s.spec);
  t.comment(`ensureNetwork ${s.spec.netns}: ${msSince(start)} ms`);
  const epStart = performance.now();
  await s.dp.ensureEndpoint(s.spec.netns, s.ep);
  t.comment(`ensureEndpoint ${s.ep.hostIfname}: ${msSince(epStart)} ms`);
  s.peer = { subnet: s.spec.hostSubnet, vtepIp: s.spec.vtepIp, vtepMac, underlayIp: s.host.underlayIp };
}

function peerOf(s: Site): Peer {
  if (!s.peer) throw new Error('site not up');
  return s.peer;
}

if (skip) {
  t.plan(0, `skip: ${skip}`);
} else {
  const [h1, h2] = makeTwoHosts(prefix);
  const dp1 = new NetlinkDataPlane({ agentNetns: h1.ns });
  const dp2 = new NetlinkDataPlane({ agentNetns: h2.ns });
  t.teardown(() => {
    dp1.close();
    dp2.close();
    removeAll(prefix);
  });
  // Network a (VNI 100) and network b (VNI 200), one container per host on each.
  const a1 = site(h1, dp1, 'a', 100, 1, makeNs(`${prefix}-c-a1`));
  const a2 = site(h2, dp2, 'a', 100, 2, makeNs(`${prefix}-c-a2`));
  const b1 = site(h1, dp1, 'b', 200, 1, makeNs(`${prefix}-c-b1`));
  const b2 = site(h2, dp2, 'b', 200, 2, makeNs(`${prefix}-c-b2`));

  t.test('underlay works', async (t) => {
    t.ok(await pings(h1.ns, h2.underlayIp), 'h1 -> h2 on the underlay');
  });

  t.test('container on h1 reaches container on h2 over VXLAN', async (t) => {
    for (const s of [a1, a2, b1, b2]) await up(s);
    t.notOk(await pings(a1.sandbox, a2.ep.ip), 'no peers programmed: no path');
    await dp1.ensurePeers(a1.spec.netns, [peerOf(a2)]);
    await dp2.ensurePeers(a2.spec.netns, [peerOf(a1)]);
    await dp1.ensurePeers(a1.spec.netns, [peerOf(a2)]); // replace-idempotent
    t.same(await dp1.listPeers(a1.spec.netns), [peerOf(a2)], 'h1 reads back its peer');
    t.same(await dp2.listPeers(a2.spec.netns), [peerOf(a1)], 'h2 reads back its peer');
    t.same(await dp1.listEndpoints(a1.spec.netns), [a1.ep.hostIfname]);
    t.ok(await pings(a1.sandbox, a1.ep.gateway), 'container reaches its gateway');
    t.ok(await pings(a1.sandbox, a2.ep.ip), `${a1.ep.ip} (h1) -> ${a2.ep.ip} (h2)`);
    t.ok(await pings(a2.sandbox, a1.ep.ip), `${a2.ep.ip} (h2) -> ${a1.ep.ip} (h1)`);
    t.ok(await pings(a1.sandbox, a2.spec.gateway), 'the remote gateway is reachable too');
    t.match(ip('-n', a1.sandbox, 'link', 'show', 'eth0'), /mtu 1450/, 'container MTU');
    t.match(ip('-n', a1.sandbox, 'route', 'show'), /default via 10\.128\.1\.1 dev eth0/, 'default route via the gateway');
    t.match(ip('-n', a1.sandbox, 'link', 'show', 'eth0'), new RegExp(a1.ep.mac), 'container MAC as given');
    await dp1.ensureEndpoint(a1.spec.netns, a1.ep);
    t.pass('ensureEndpoint again is success');
  });

  t.test('networks are isolated', async (t) => {
    await dp1.ensurePeers(b1.spec.netns, [peerOf(b2)]);
    await dp2.ensurePeers(b2.spec.netns, [peerOf(b1)]);
    t.ok(await pings(b1.sandbox, b2.ep.ip), 'network b works on its own VNI');
    t.notOk(await pings(a1.sandbox, b2.ep.ip), 'a (h1) cannot reach b (h2)');
    t.notOk(await pings(a1.sandbox, b1.ep.ip), 'a (h1) cannot reach b on the same host');
    t.notOk(await pings(b1.sandbox, a2.ep.ip), 'b (h1) cannot reach a (h2)');
    t.notOk(await pings(a1.sandbox, b1.spec.gateway), 'nor the other network\'s gateway');
  });

  t.test('deletePeers removes route, neighbour and FDB entry', async (t) => {
    await dp1.deletePeers(a1.spec.netns, [peerOf(a2)]);
    t.same(await dp1.listPeers(a1.spec.netns), [], 'listPeers empty');
    t.equal(ip('-n', a1.spec.netns, 'route', 'show', 'dev', 'vxlan0').trim(), '', 'no route via vxlan0');
    t.equal(ip('-n', a1.spec.netns, 'neigh', 'show', 'dev', 'vxlan0', 'nud', 'permanent').trim(), '', 'no permanent neighbour');
    t.equal(ip('netns', 'exec', a1.spec.netns, 'bridge', 'fdb', 'show', 'dev', 'vxlan0').trim(), '', 'no FDB entry');
    t.notOk(await pings(a1.sandbox, a2.ep.ip), 'no more traffic');
    await dp1.deletePeers(a1.spec.netns, [peerOf(a2)]);
    t.pass('second deletePeers is success');
    await dp1.ensurePeers(a1.spec.netns, [peerOf(a2)]);
    t.ok(await pings(a1.sandbox, a2.ep.ip), 'programmed again: traffic again');
  });

  t.test('deleteEndpoint and deleteNetwork leave nothing behind', async (t) => {
    await dp1.deleteEndpoint(a1.spec.netns, a1.ep.hostIfname);
    t.same(await dp1.listEndpoints(a1.spec.netns), [], 'no endpoint on br0');
    t.same(linkNames(a1.sandbox), ['lo'], 'container end gone with it');
    await dp1.deleteEndpoint(a1.spec.netns, a1.ep.hostIfname);
    t.pass('second deleteEndpoint is success');

    for (const s of [a1, a2, b1, b2]) await s.dp.deleteNetwork(s.spec.netns);
    for (const s of [a1, a2, b1, b2]) await s.dp.deleteNetwork(s.spec.netns);
    t.same(listNetns(`${prefix}-h`).sort(), [h1.ns, h2.ns], 'only the host namespaces remain');
    t.same(linkNames(h1.ns), ['eth0', 'lo'], 'h1 as the test made it');
    t.same(linkNames(h2.ns), ['eth0', 'lo'], 'h2 as the test made it');
    for (const s of [a2, b1, b2]) t.same(linkNames(s.sandbox), ['lo'], `${s.sandbox}: container end gone`);
    t.equal(ip('netns', 'exec', h1.ns, 'ss', '-Hunl').trim(), '', 'no VXLAN socket left in h1');
    t.ok(await pings(h1.ns, h2.underlayIp), 'underlay untouched');
  });
}
