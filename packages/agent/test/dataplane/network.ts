import t from 'tap';
import { readFileSync } from 'node:fs';

import { inNetns, listNetns } from '@vxnet/netns';
import { ip, ipJson, linkNames, msSince, skipReason, testPrefix, oneHostPlane } from './helpers/sim.js';

const skip = skipReason();
const prefix = testPrefix('net');

interface IpLink {
  ifname: string;
  mtu: number;
  flags: string[];
  address: string;
  link_netnsid?: number;
  linkinfo?: { info_kind: string; info_data?: Record<string, unknown> };
}

function link(ns: string, dev: string): IpLink {
  const [l] = ipJson<IpLink[]>('-d', '-n', ns, 'link', 'show', dev);
  if (!l) throw new Error(`no ${dev} in ${ns}`);
  return l;
}

function addrs(ns: string, dev: string): string[] {
  const [a] = ipJson<Array<{ addr_info: Array<{ family: string; local: string; prefixlen: number }> }>>('-n', ns, 'addr', 'show', 'dev', dev);
  return (a?.addr_info ?? []).filter((x) => x.family === 'inet').map((x) => `${x.local}/${x.prefixlen}`);
}

function forwarding(ns: string): string {
  return inNetns(ns, () => readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8').trim());
}

if (skip) {
  t.plan(0, `skip: ${skip}`);
} else {
  const { host, dp, spec } = oneHostPlane(t, prefix, { idChar: 'a', vni: 4242, subnet: '10.128.3.0/24' });

  t.test('ensureVtep makes only the namespace and vxlan0; ensureNetwork then keeps its MAC', async (t) => {
    const vtepSpec = { ...spec, netns: `${prefix}-h1.n-vtep00000000` };
    const { vtepMac } = await dp.ensureVtep(vtepSpec);
    t.match(vtepMac, /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/);
    t.same(linkNames(vtepSpec.netns), ['lo', 'vxlan0'], 'no bridge yet');
    t.same(addrs(vtepSpec.netns, 'vxlan0'), [], 'no address yet (the subnet is not leased)');
    t.match(link(vtepSpec.netns, 'vxlan0').linkinfo?.info_data, { id: 4242, port: 4789, learning: false, local: '198.51.100.1' });
    t.same(await dp.ensureVtep(vtepSpec), { vtepMac }, 'twice: the same device');
    t.same(await dp.ensureNetwork(vtepSpec), { vtepMac }, 'ensureNetwork completes it with the same MAC');
    t.same(addrs(vtepSpec.netns, 'vxlan0'), ['10.128.3.0/32']);
    t.same(addrs(vtepSpec.netns, 'br0'), ['10.128.3.1/24', '169.254.169.53/32'], 'the gateway and the DNS address');
    await dp.deleteNetwork(vtepSpec.netns);
    t.notOk(listNetns(prefix).includes(vtepSpec.netns));
  });

  t.test('ensureNetwork builds bridge, VXLAN device and forwarding; twice is the same state', async (t) => {
    const hostForwarding = forwarding(host.ns);
    let start = performance.now();
    const first = await dp.ensureNetwork(spec);
    t.comment(`ensureNetwork (new namespace, bridge, vxlan): ${msSince(start)} ms`);
    t.match(first.vtepMac, /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/);

    const br = link(spec.netns, 'br0');
    t.equal(br.linkinfo?.info_kind, 'bridge');
    t.equal(br.mtu, 1450);
    t.ok(br.flags.includes('UP'), 'br0 up');
    t.same(addrs(spec.netns, 'br0'), ['10.128.3.1/24', '169.254.169.53/32']);

    const vx = link(spec.netns, 'vxlan0');
    t.equal(vx.linkinfo?.info_kind, 'vxlan');
    // (`ip -d` prints the underlay as "dev vxlan0": it resolves the index of eth0 in
    // the agent namespace against the network namespace's links.)
    t.match(vx.linkinfo?.info_data, { id: 4242, port: 4789, learning: false, local: '198.51.100.1' });
    t.equal(vx.mtu, 1450);
    t.ok(vx.flags.includes('UP'), 'vxlan0 up');
    t.equal(vx.address, first.vtepMac);
    t.ok(vx.link_netnsid !== undefined, 'the device reports a link namespace (its socket is elsewhere)');
    t.same(addrs(spec.netns, 'vxlan0'), ['10.128.3.0/32']);

    const udp = ip('netns', 'exec', host.ns, 'ss', '-Hunl', 'sport', '= :4789');
    t.match(udp, /4789/, 'the VXLAN UDP socket listens in the agent (host) namespace');
    t.equal(ip('netns', 'exec', spec.netns, 'ss', '-Hunl').trim(), '', 'and not in the network namespace');

    t.equal(forwarding(spec.netns), '1', 'forwarding on inside');
    t.equal(forwarding(host.ns), hostForwarding, 'host namespace forwarding untouched');
    t.same(linkNames(host.ns), ['eth0', 'eth0p', 'lo'], 'nothing added to the agent namespace');

    // Without -d: bridge timers tick between two dumps.
    // IPv6 duplicate address detection finishes on its own clock ("tentative" disappears): not our state
    const state = (): string =>
      (ip('-n', spec.netns, 'link', 'show') + ip('-d', '-n', spec.netns, 'link', 'show', 'vxlan0') + ip('-n', spec.netns, 'addr', 'show') + ip('-n', spec.netns, 'route', 'show'))
        .replace(/ tentative/g, '');
    const before = state();
    start = performance.now();
    const second = await dp.ensureNetwork(spec);
    t.comment(`ensureNetwork (already in place): ${msSince(start)} ms`);
    t.equal(second.vtepMac, first.vtepMac, 'vtepMac stable');
    t.equal(state(), before, 'same kernel state');
    t.same(listNetns(`${prefix}-h1.`), [spec.netns]);
  });

  t.test('ensureNetwork repairs drift made by hand', async (t) => {
    const { vtepMac } = await dp.ensureNetwork(spec);
    ip('-n', spec.netns, 'link', 'set', 'br0', 'down');
    ip('-n', spec.netns, 'link', 'set', 'br0', 'mtu', '1300');
    ip('-n', spec.netns, 'link', 'set', 'vxlan0', 'down');
    ip('-n', spec.netns, 'link', 'set', 'vxlan0', 'mtu', '1400');
    ip('-n', spec.netns, 'addr', 'del', '10.128.3.1/24', 'dev', 'br0');
    ip('-n', spec.netns, 'addr', 'add', '10.99.0.1/16', 'dev', 'br0');
    ip('-n', spec.netns, 'addr', 'add', '10.99.0.7/32', 'dev', 'vxlan0');
    inNetns(spec.netns, () => readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8')); // readable
    ip('netns', 'exec', spec.netns, 'sysctl', '-qw', 'net.ipv4.ip_forward=0');

    const again = await dp.ensureNetwork(spec);
    t.equal(again.vtepMac, vtepMac, 'device kept (repaired in place)');
    const br = link(spec.netns, 'br0');
    const vx = link(spec.netns, 'vxlan0');
    t.ok(br.flags.includes('UP') && vx.flags.includes('UP'), 'both up again');
    t.equal(br.mtu, 1450);
    t.equal(vx.mtu, 1450);
    t.same(addrs(spec.netns, 'br0').sort(), ['10.128.3.1/24', '169.254.169.53/32'], 'stray bridge address removed, gateway and DNS address back');
    t.same(addrs(spec.netns, 'vxlan0'), ['10.128.3.0/32'], 'stray VTEP address removed');
    t.equal(forwarding(spec.netns), '1', 'forwarding back on');
  });

  t.test('ensureNetwork recreates incompatible devices', async (t) => {
    const { vtepMac } = await dp.ensureNetwork(spec);
    // A VXLAN device made inside the namespace: wrong VNI, learning on, socket in the wrong place.
    ip('-n', spec.netns, 'link', 'del', 'vxlan0');
    ip('-n', spec.netns, 'link', 'add', 'vxlan0', 'type', 'vxlan', 'id', '7', 'dstport', '4789');
    // And a bridge that is not a bridge.
    ip('-n', spec.netns, 'link', 'del', 'br0');
    ip('-n', spec.netns, 'link', 'add', 'br0', 'type', 'veth', 'peer', 'name', 'br0p');
    const again = await dp.ensureNetwork(spec);
    t.not(again.vtepMac, vtepMac, 'vxlan0 was recreated (new MAC)');
    t.match(link(spec.netns, 'vxlan0').linkinfo?.info_data, { id: 4242, learning: false, local: '198.51.100.1' });
    t.equal(link(spec.netns, 'br0').linkinfo?.info_kind, 'bridge');
    t.same(linkNames(spec.netns), ['br0', 'lo', 'vxlan0'], 'the impostor bridge (and its peer) are gone');
  });

  t.test('deleteNetwork removes the namespace and is idempotent', async (t) => {
    await dp.ensureNetwork(spec);
    await dp.deleteNetwork(spec.netns);
    t.same(listNetns(`${prefix}-h1.`), [], 'namespace gone');
    t.equal(ip('netns', 'exec', host.ns, 'ss', '-Hunl', 'sport', '= :4789').trim(), '', 'VXLAN socket closed in the agent namespace');
    await dp.deleteNetwork(spec.netns);
    t.pass('second delete is success');
    await t.rejects(dp.listPeers(spec.netns), { code: 'VXNET_NETNS_NOT_FOUND' }, 'methods needing the namespace say it is missing');
    t.same(linkNames(host.ns), ['eth0', 'eth0p', 'lo'], 'agent namespace as the test made it');
  });
}
