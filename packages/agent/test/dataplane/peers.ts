/**
 * Peer programming at scale (1000 peers in one network namespace), read-back,
 * MAC changes, and deletion. Prints timings as test comments. The peers'
 * underlay addresses are TEST-NET-3 placeholders; no packet is sent to them.
 */
import t from 'tap';
import type { Peer } from '../../src/dataplane/data-plane.js';
import { bySubnet, ip, msSince, oneHostPlane, peer, skipReason, testPrefix } from './helpers/sim.js';

const skip = skipReason();
const prefix = testPrefix('peers');
const COUNT = 1000;


if (skip) {
  t.plan(0, `skip: ${skip}`);
} else {
  const { host, dp, spec } = oneHostPlane(t, prefix, { idChar: 'd', vni: 400, subnet: '10.140.0.0/24' });
  const peers = Array.from({ length: COUNT }, (_, i) => peer(i));

  t.test(`${COUNT} peers: program, read back, re-program, change MAC, delete`, async (t) => {
    let start = performance.now();
    await dp.ensureNetwork(spec);
    t.comment(`ensureNetwork: ${msSince(start)} ms`);

    start = performance.now();
    for (const p of peers) await dp.ensurePeers(spec.netns, [p]);
    const seqMs = msSince(start);
    t.comment(`ensurePeers of one peer x${COUNT}, one after another: ${seqMs} ms (${Math.round((seqMs / COUNT) * 1000)} µs/peer)`);

    start = performance.now();
    const listed = await dp.listPeers(spec.netns);
    t.comment(`listPeers with ${COUNT} peers: ${msSince(start)} ms`);
    t.equal(listed.length, COUNT, 'all read back');
    t.same(listed, [...peers].sort(bySubnet), 'exactly as programmed');
    t.equal(ip('-n', spec.netns, 'route', 'show', 'dev', 'vxlan0').trim().split('\n').length, COUNT, `${COUNT} routes (ip route)`);
    t.equal(ip('-n', spec.netns, 'neigh', 'show', 'dev', 'vxlan0', 'nud', 'permanent').trim().split('\n').length, COUNT, `${COUNT} neighbours (ip neigh)`);
    t.equal(ip('netns', 'exec', spec.netns, 'bridge', 'fdb', 'show', 'dev', 'vxlan0').trim().split('\n').length, COUNT, `${COUNT} FDB entries (bridge fdb)`);
    t.match(ip('-n', spec.netns, 'route', 'show', '10.141.5.0/24'), /10\.141\.5\.0\/24 via 10\.141\.5\.0 dev vxlan0 .*onlink/, 'route is onlink');

    start = performance.now();
    await dp.ensurePeers(spec.netns, peers);
    t.comment(`ensurePeers of all ${COUNT} again (already present): ${msSince(start)} ms`);
    t.equal((await dp.listPeers(spec.netns)).length, COUNT, 're-programming is idempotent');

    const moved = peer(7, 0xee);
    await dp.ensurePeers(spec.netns, [moved]);
    const after = await dp.listPeers(spec.netns);
    t.same(after.find((p) => p.subnet === moved.subnet), moved, 'a new VTEP MAC replaces the old one');
    t.equal(after.length, COUNT);
    const fdb = ip('netns', 'exec', spec.netns, 'bridge', 'fdb', 'show', 'dev', 'vxlan0');
    t.notMatch(fdb, new RegExp(`^${peer(7).vtepMac} `, 'm'), 'the old MAC has no FDB entry left');
    t.match(fdb, new RegExp(`^${moved.vtepMac} dst ${moved.underlayIp} .*self permanent`, "m"));

    start = performance.now();
    for (const p of [...peers.filter((p) => p.subnet !== moved.subnet), moved]) await dp.deletePeers(spec.netns, [p]);
    t.comment(`deletePeers of one peer x${COUNT}: ${msSince(start)} ms`);
    t.same(await dp.listPeers(spec.netns), [], 'all gone');
    t.equal(ip('netns', 'exec', spec.netns, 'bridge', 'fdb', 'show', 'dev', 'vxlan0').trim(), '', 'FDB empty');
    t.equal(ip('-n', spec.netns, 'neigh', 'show', 'dev', 'vxlan0', 'nud', 'permanent').trim(), '', 'no neighbours');

    await dp.deleteNetwork(spec.netns);
  });
}
