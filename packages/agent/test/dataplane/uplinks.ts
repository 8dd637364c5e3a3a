/**
 * Uplinks on the real kernel: the veth, its link-local ends, the routes both ways,
 * expose (address, routes with source, proxy ARP), idempotence, repair, conflicts
 * with a device the data plane did not make, and delete. Traffic through uplinks
 * (with the firewall) is egress-kernel.ts.
 */
import t from 'tap';
import { readFileSync } from 'node:fs';

import { inNetns } from '@vxnet/netns';
import type { UplinkSpec } from '../../src/dataplane/index.js';
import { ip, ipJson, linkNames, msSince, oneHostPlane, skipReason, testPrefix } from './helpers/sim.js';

const skip = skipReason();
const prefix = testPrefix('up');

function addrs(ns: string, dev: string): string[] {
  const [a] = ipJson<Array<{ addr_info: Array<{ family: string; local: string; prefixlen: number }> }>>('-n', ns, 'addr', 'show', 'dev', dev);
  return (a?.addr_info ?? []).filter((x) => x.family === 'inet').map((x) => `${x.local}/${x.prefixlen}`);
}

/** `ip route show dev DEV` as "DST via GW [src SRC] onlink" lines, sorted. */
function routes(ns: string, dev: string): string[] {
  return ipJson<Array<{ dst: string; gateway?: string; prefsrc?: string; flags: string[] }>>('-n', ns, 'route', 'show', 'dev', dev)
    .map((r) => [r.dst, r.gateway ? `via ${r.gateway}` : '', r.prefsrc ? `src ${r.prefsrc}` : '', r.flags.includes('onlink') ? 'onlink' : ''].filter(Boolean).join(' '))
    .sort();
}

function proxies(ns: string): string[] {
  return ip('-n', ns, 'neigh', 'show', 'proxy').trim().split('\n').filter(Boolean).sort();
}

if (skip) {
  t.plan(0, `skip: ${skip}`);
} else {
  const { host, dp, spec } = oneHostPlane(t, prefix, { idChar: 'b', vni: 4300, subnet: '10.128.7.0/24' });
  const uplink: UplinkSpec = { netns: spec.netns, hostIfname: 'vxu-bbbbbbbbbbb', hostSubnet: spec.hostSubnet, mtu: 1450 };
  const exposed: UplinkSpec = { ...uplink, expose: { ip: '10.128.7.200', network: '10.128.0.0/16' } };

  t.test('ensureUplink: veth, link-local ends, routes both ways; twice is the same state', async (t) => {
    await dp.ensureNetwork(spec);
    const start = performance.now();
    await dp.ensureUplink(uplink);
    t.comment(`ensureUplink (new): ${msSince(start)} ms`);
    const state = () => ({
      hostAddrs: addrs(host.ns, uplink.hostIfname),
      innerAddrs: addrs(spec.netns, 'uplink'),
      hostRoutes: routes(host.ns, uplink.hostIfname),
      innerRoutes: routes(spec.netns, 'uplink'),
      proxies: proxies(spec.netns),
    });
    t.same(state(), {
      hostAddrs: ['169.254.1.1/32'],
      innerAddrs: ['169.254.1.2/32'],
      hostRoutes: ['10.128.7.0/24 via 169.254.1.2 onlink'],
      innerRoutes: ['default via 169.254.1.1 onlink'],
      proxies: [],
    });
    const [l] = ipJson<Array<{ mtu: number; flags: string[]; link_netnsid?: number }>>('-n', host.ns, 'link', 'show', uplink.hostIfname);
    t.equal(l?.mtu, 1450);
    t.ok(l?.flags.includes('UP'));
    t.ok(l?.link_netnsid !== undefined, 'the peer is in another namespace');
    t.same(await dp.listUplinks(), [uplink.hostIfname]);
    const again = performance.now();
    await dp.ensureUplink(uplink);
    t.comment(`ensureUplink (present): ${msSince(again)} ms`);
    t.same(state().hostRoutes, ['10.128.7.0/24 via 169.254.1.2 onlink'], 'twice: the same routes');
    t.same(linkNames(spec.netns), ['br0', 'lo', 'uplink', 'vxlan0']);
  });

  t.test('expose adds the address, source routes, the route back and proxy ARP; without expose they go', async (t) => {
    await dp.ensureUplink(exposed);
    t.same(addrs(host.ns, uplink.hostIfname), ['169.254.1.1/32', '10.128.7.200/32']);
    t.same(routes(host.ns, uplink.hostIfname), ['10.128.0.0/16 via 169.254.1.2 src 10.128.7.200 onlink', '10.128.7.0/24 via 169.254.1.2 src 10.128.7.200 onlink']);
    t.same(routes(spec.netns, 'uplink'), ['10.128.7.200 via 169.254.1.1 onlink', 'default via 169.254.1.1 onlink']);
    t.same(proxies(spec.netns), ['10.128.7.200 dev br0 proxy']);
    t.equal(inNetns(spec.netns, () => readFileSync('/proc/sys/net/ipv4/neigh/br0/proxy_delay', 'utf8').trim()), '0', 'proxy ARP answers at once');
    t.ok((await dp.listHostAddresses()).some((a) => a.ip === '10.128.7.200' && a.ifname === uplink.hostIfname), 'listHostAddresses sees it');

    await dp.ensureUplink(uplink);
    t.same(addrs(host.ns, uplink.hostIfname), ['169.254.1.1/32']);
    t.same(routes(host.ns, uplink.hostIfname), ['10.128.7.0/24 via 169.254.1.2 onlink']);
    t.same(routes(spec.netns, 'uplink'), ['default via 169.254.1.1 onlink']);
    t.same(proxies(spec.netns), []);
  });

  t.test('drift is repaired: link down, a route and an address removed', async (t) => {
    ip('-n', host.ns, 'link', 'set', uplink.hostIfname, 'down');
    ip('-n', spec.netns, 'route', 'del', 'default');
    ip('-n', host.ns, 'addr', 'del', '169.254.1.1/32', 'dev', uplink.hostIfname);
    ip('-n', host.ns, 'addr', 'add', '169.254.9.9/32', 'dev', uplink.hostIfname);
    await dp.ensureUplink(uplink);
    t.same(addrs(host.ns, uplink.hostIfname), ['169.254.1.1/32'], 'the stray address is gone, ours is back');
    t.same(routes(spec.netns, 'uplink'), ['default via 169.254.1.1 onlink']);
    t.same(routes(host.ns, uplink.hostIfname), ['10.128.7.0/24 via 169.254.1.2 onlink']);
    t.ok(ipJson<Array<{ flags: string[] }>>('-n', host.ns, 'link', 'show', uplink.hostIfname)[0]?.flags.includes('UP'));
  });

  t.test('a device the data plane did not make is a conflict and is left alone', async (t) => {
    ip('-n', host.ns, 'link', 'add', 'vxu-ccccccccccc', 'type', 'bridge');
    const other = { ...uplink, hostIfname: 'vxu-ccccccccccc' };
    await t.rejects(dp.ensureUplink(other), { code: 'VXNET_DATAPLANE_CONFLICT' });
    await t.rejects(dp.deleteUplink('vxu-ccccccccccc'), { code: 'VXNET_DATAPLANE_CONFLICT' });
    t.ok(linkNames(host.ns).includes('vxu-ccccccccccc'), 'still there');
    t.same(await dp.listUplinks(), [uplink.hostIfname], 'listUplinks names veths only');
    ip('-n', host.ns, 'link', 'del', 'vxu-ccccccccccc');
  });

  t.test('deleteUplink removes both ends; twice is fine; deleteNetwork takes a remaining uplink along', async (t) => {
    await dp.deleteUplink(uplink.hostIfname);
    t.notOk(linkNames(host.ns).includes(uplink.hostIfname));
    t.notOk(linkNames(spec.netns).includes('uplink'));
    await dp.deleteUplink(uplink.hostIfname);
    await dp.ensureUplink(uplink);
    await dp.deleteNetwork(spec.netns);
    t.notOk(linkNames(host.ns).includes(uplink.hostIfname), 'the host end went with the namespace, at once');
  });
}
