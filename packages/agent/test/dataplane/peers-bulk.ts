/**
 * The bulk peer API (ensurePeers/deletePeers) with 1000 peers in one network
 * namespace: read back exactly, idempotent, a changed MAC, a refused entry
 * reported by name while the others are applied, and bulk deletion. Timings
 * are printed as test comments. Peers' underlay addresses are TEST-NET-3
 * placeholders; no packet is sent to them.
 */
import t from 'tap';
import type { Peer } from '../../src/dataplane/data-plane.js';
import { bySubnet, ip, msSince, oneHostPlane, peer, skipReason, testPrefix } from './helpers/sim.js';

const skip = skipReason();
const prefix = testPrefix('bulk');
const COUNT = 1000;

const lines = (s: string): number => (s.trim() ? s.trim().split('\n').length : 0);

if (skip) {
  t.plan(0, `skip: ${skip}`);
} else {
  const { host, dp, spec } = oneHostPlane(t, prefix, { idChar: 'e', vni: 401, subnet: '10.140.0.0/24' });
  const peers = Array.from({ length: COUNT }, (_, i) => peer(i));
  const fdbShow = () => ip('netns', 'exec', spec.netns, 'bridge', 'fdb', 'show', 'dev', 'vxlan0');

  t.test(`ensurePeers with ${COUNT} peers: read back exactly, idempotent, MAC change`, async (t) => {
    await dp.ensureNetwork(spec);
    let start = performance.now();
    await dp.ensurePeers(spec.netns, peers);
    t.comment(`ensurePeers x${COUNT} into an empty namespace: ${msSince(start)} ms`);
    t.same(await dp.listPeers(spec.netns), [...peers].sort(bySubnet), 'listPeers returns exactly the peers');
    t.equal(lines(ip('-n', spec.netns, 'route', 'show', 'dev', 'vxlan0')), COUNT, `${COUNT} routes`);
    t.equal(lines(ip('-n', spec.netns, 'neigh', 'show', 'dev', 'vxlan0', 'nud', 'permanent')), COUNT, `${COUNT} neighbours`);
    t.equal(lines(fdbShow()), COUNT, `${COUNT} FDB entries`);
    t.match(ip('-n', spec.netns, 'route', 'show', '10.141.5.0/24'), /^10\.141\.5\.0\/24 via 10\.141\.5\.0 dev vxlan0 proto static metric 177014016 onlink/m, 'route as ip shows it');

    start = performance.now();
    await dp.ensurePeers(spec.netns, peers);
    t.comment(`ensurePeers x${COUNT} again (all present): ${msSince(start)} ms`);
    t.same(await dp.listPeers(spec.netns), [...peers].sort(bySubnet), 'idempotent');

    const moved = [peer(7, 0xee), peer(8, 0xee)];
    await dp.ensurePeers(spec.netns, moved);
    const after = await dp.listPeers(spec.netns);
    t.equal(after.length, COUNT);
    for (const m of moved) t.same(after.find((p) => p.subnet === m.subnet), m, `new MAC of ${m.subnet}`);
    const fdb = fdbShow();
    t.equal(lines(fdb), COUNT, 'old FDB entries removed');
    t.notMatch(fdb, new RegExp(`^${peer(7).vtepMac} `, 'm'));
    await dp.ensurePeers(spec.netns, [peer(7), peer(8)]);
    t.same(await dp.listPeers(spec.netns), [...peers].sort(bySubnet), 'and back');
  });

  t.test('a refused entry is named; every other entry is applied', async (t) => {
    // A gateway that is one of our own addresses (the local VTEP) is refused by
    // the kernel for an onlink route: EINVAL ("Nexthop has invalid gateway").
    const bad: Peer = { subnet: '10.199.0.0/24', vtepIp: spec.vtepIp, vtepMac: '0a:99:00:00:00:01', underlayIp: '203.0.113.200' };
    const extra = [peer(COUNT), peer(COUNT + 1)];
    const err = await dp.ensurePeers(spec.netns, [extra[0]!, bad, extra[1]!]).then(
      () => undefined,
      (e: unknown) => e,
    );
    t.ok(err instanceof Error, 'rejects');
    const e = err as Error & { code?: string; cause?: unknown };
    t.equal(e.code, 'VXNET_DATAPLANE_FAILED');
    t.match(e.message, /refused 1 of 9 entries/);
    t.match(e.message, /route 10\.199\.0\.0\/24 via 10\.140\.0\.0: EINVAL/, 'names the entry and errno');
    t.ok(e.cause instanceof AggregateError, 'cause lists every refusal');
    t.same((e.cause as AggregateError).errors.map((x: Error) => x.message), ['route 10.199.0.0/24 via 10.140.0.0: Request rejected: EINVAL']);
    const listed = await dp.listPeers(spec.netns);
    t.equal(listed.length, COUNT + 2, 'the peers around it are programmed');
    for (const x of extra) t.same(listed.find((p) => p.subnet === x.subnet), x);
    t.notOk(listed.some((p) => p.subnet === bad.subnet), 'no route for the refused one');

    await t.rejects(dp.ensurePeers(spec.netns, [peer(1), { ...peer(2), vtepMac: 'zz' }]), TypeError, 'invalid input rejected before sending');
    await dp.deletePeers(spec.netns, [...extra, bad]);
  });

  t.test('deletePeers removes everything; absent entries and namespaces are fine', async (t) => {
    const start = performance.now();
    await dp.deletePeers(spec.netns, peers);
    t.comment(`deletePeers x${COUNT}: ${msSince(start)} ms`);
    t.same(await dp.listPeers(spec.netns), [], 'no routes left');
    t.equal(fdbShow().trim(), '', 'FDB empty');
    t.equal(ip('-n', spec.netns, 'neigh', 'show', 'dev', 'vxlan0', 'nud', 'permanent').trim(), '', 'no neighbours');
    await dp.deletePeers(spec.netns, peers);
    t.pass('deleting again succeeds');
    await dp.ensurePeers(spec.netns, []);
    await dp.deleteNetwork(spec.netns);
    await dp.deletePeers(spec.netns, peers);
    t.pass('deleting in an absent namespace succeeds');
  });
}
