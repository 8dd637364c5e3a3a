/**
 * ensureEndpoint fails cleanly: whatever step fails, no veth is left in the
 * network namespace or the sandbox, and an existing endpoint is not disturbed.
 */
import t, { type Test } from 'tap';

import type { EndpointSpec } from '../../src/dataplane/data-plane.js';
import { netnsPath } from '@vxnet/netns';
import { ip, linkNames, macFor, makeNs, pings, skipReason, testPrefix, oneHostPlane } from './helpers/sim.js';

const skip = skipReason();
const prefix = testPrefix('rb');

if (skip) {
  t.plan(0, `skip: ${skip}`);
} else {
  const { host, dp, spec } = oneHostPlane(t, prefix, { idChar: 'c', vni: 300, subnet: '10.130.1.0/24' });
  const c1 = makeNs(`${prefix}-c1`);
  const c2 = makeNs(`${prefix}-c2`);
  const ep1: EndpointSpec = {
    sandboxNetnsPath: netnsPath(c1),
    ifname: 'eth0',
    hostIfname: 've-c1',
    ip: '10.130.1.2',
    prefixLength: 24,
    mac: macFor('10.130.1.2'),
    gateway: '10.130.1.1',
    mtu: 1450,
  };
  const ep2: EndpointSpec = { ...ep1, sandboxNetnsPath: netnsPath(c2), hostIfname: 've-c2', ip: '10.130.1.3', mac: macFor('10.130.1.3') };

  t.before(async () => {
    await dp.ensureNetwork(spec);
    await dp.ensureEndpoint(spec.netns, ep1);
  });

  /** The network namespace holds only what ensureNetwork and ep1 made. */
  async function clean(t: Test, sandbox: string): Promise<void> {
    t.same(await dp.listEndpoints(spec.netns), ['ve-c1'], 'only the first endpoint on br0');
    t.same(linkNames(spec.netns), ['br0', 'lo', 've-c1', 'vxlan0'], 'no veth left in the network namespace');
    t.same(linkNames(sandbox), ['lo'], 'no veth left in the sandbox');
    t.ok(await pings(c1, ep1.gateway), 'the existing endpoint still works');
  }

  t.test('a sandbox path that does not exist fails before creating anything', async (t) => {
    await t.rejects(dp.ensureEndpoint(spec.netns, { ...ep2, sandboxNetnsPath: `/run/netns/${prefix}-absent` }), { code: 'VXNET_DATAPLANE_FAILED' });
    await clean(t, c2);
  });

  t.test('a sandbox path that is not a namespace fails and leaves nothing', async (t) => {
    await t.rejects(dp.ensureEndpoint(spec.netns, { ...ep2, sandboxNetnsPath: '/etc/hostname' }), { code: 'VXNET_DATAPLANE_FAILED' });
    await clean(t, c2);
  });

  t.test('a duplicate hostIfname is a conflict and the existing endpoint is kept', async (t) => {
    await t.rejects(dp.ensureEndpoint(spec.netns, { ...ep2, hostIfname: 've-c1' }), { code: 'VXNET_DATAPLANE_CONFLICT' });
    await clean(t, c2);
  });

  t.test('a sandbox that already has the interface is a conflict', async (t) => {
    ip('-n', c2, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'x0');
    try {
      await t.rejects(dp.ensureEndpoint(spec.netns, ep2), { code: 'VXNET_DATAPLANE_CONFLICT' });
      t.same(linkNames(spec.netns), ['br0', 'lo', 've-c1', 'vxlan0'], 'no veth left in the network namespace');
    } finally {
      ip('-n', c2, 'link', 'del', 'eth0');
    }
    await clean(t, c2);
  });

  t.test('a failure after the veth exists (address refused) rolls the veth back', async (t) => {
    await t.rejects(dp.ensureEndpoint(spec.netns, { ...ep2, prefixLength: 33 }), { code: 'VXNET_DATAPLANE_FAILED', message: /EINVAL/ });
    await clean(t, c2);
  });

  t.test('a failure at the last step (route via an unreachable gateway) rolls back too', async (t) => {
    await t.rejects(dp.ensureEndpoint(spec.netns, { ...ep2, gateway: '10.200.0.1' }), { code: 'VXNET_DATAPLANE_FAILED' });
    await clean(t, c2);
  });

  t.test('after all that, the endpoint can be made', async (t) => {
    await dp.ensureEndpoint(spec.netns, ep2);
    t.same(await dp.listEndpoints(spec.netns), ['ve-c1', 've-c2']);
    t.ok(await pings(c2, ep1.ip), 'c2 reaches c1 across the bridge');
    await t.rejects(dp.deleteEndpoint(spec.netns, 'vxlan0'), { code: 'VXNET_DATAPLANE_CONFLICT' }, 'refuses to delete what is not an endpoint');
    await dp.deleteEndpoint(spec.netns, 've-c2');
    t.same(linkNames(c2), ['lo']);
  });
}
