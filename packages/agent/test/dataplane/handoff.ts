/**
 * ensureHandoffEndpoint on the real kernel (root): the host end on br0 in the
 * network namespace, the other end left down in the agent's (host) namespace with
 * the MAC and MTU; idempotent; a device of ours already handed over, or a foreign
 * device under the handoff name, is a conflict and is left alone; deleteEndpoint
 * removes the pair wherever the runtime moved the other end.
 */
import t from 'tap';

import { ip, ipJson, linkNames, makeNs, oneHostPlane, skipReason, testPrefix } from './helpers/sim.js';

const skip = skipReason();
const prefix = testPrefix('ho');

type Link = { ifname: string; mtu: number; address: string; flags: string[]; master?: string; link_netnsid?: number };

if (skip) {
  t.plan(0, `skip: ${skip}`);
} else {
  const { host, dp, spec } = oneHostPlane(t, prefix, { idChar: 'h', vni: 5501, subnet: '10.170.3.0/24' });
  await dp.ensureNetwork(spec);
  const ep = { hostIfname: 've-handoff1', handoffIfname: 'vxdhandoff0001', mac: '02:42:0a:aa:03:02', mtu: 1450 };

  await t.test('the pair: host end on br0, the other left down in the agent namespace', async (t) => {
    await dp.ensureHandoffEndpoint(spec.netns, ep);
    await dp.ensureHandoffEndpoint(spec.netns, ep);
    const [out] = ipJson<Link[]>('-n', host.ns, 'link', 'show', ep.handoffIfname);
    t.match(out, { ifname: ep.handoffIfname, mtu: 1450, address: ep.mac });
    t.notOk(out?.flags.includes('UP'), 'left down: the runtime brings it up');
    const [inner] = ipJson<Link[]>('-n', spec.netns, 'link', 'show', ep.hostIfname);
    t.match(inner, { master: 'br0', mtu: 1450 });
    t.ok(inner?.flags.includes('UP'));
    t.same(await dp.listEndpoints(spec.netns), [ep.hostIfname], 'listed like any endpoint');
  });

  await t.test('conflicts are refused and change nothing', async (t) => {
    ip('-n', host.ns, 'link', 'add', 'vxdforeign0001', 'type', 'bridge');
    await t.rejects(dp.ensureHandoffEndpoint(spec.netns, { ...ep, hostIfname: 've-handoff2', handoffIfname: 'vxdforeign0001' }), { code: 'VXNET_DATAPLANE_CONFLICT', message: /not made by vxnet: left alone/ });
    t.ok(linkNames(host.ns).includes('vxdforeign0001'), 'the foreign device stays');
    t.notOk(linkNames(spec.netns).includes('ve-handoff2'), 'nothing made');
    // the runtime took our end: a second call cannot hand it out again
    const sandbox = makeNs(`${prefix}-sb`);
    ip('-n', host.ns, 'link', 'set', ep.handoffIfname, 'netns', sandbox);
    ip('-n', sandbox, 'link', 'set', ep.handoffIfname, 'name', 'eth0');
    await t.rejects(dp.ensureHandoffEndpoint(spec.netns, ep), { code: 'VXNET_DATAPLANE_CONFLICT', message: /handed over already/ });
    await t.rejects(dp.ensureHandoffEndpoint(spec.netns, { ...ep, mtu: 10 }), TypeError, 'a bad MTU: before anything');
    // deleting our end takes the runtime's with it
    await dp.deleteEndpoint(spec.netns, ep.hostIfname);
    t.same(linkNames(sandbox), ['lo'], 'the sandbox lost eth0 with the pair');
    t.same(await dp.listEndpoints(spec.netns), []);
  });
}
