/** The page's reducer, diff and peerings (common/api/topology.ts), as the controller and the page both use them. */
import t from 'tap';
import { applyChanges, diffTopologies, peerings, type Topology } from '../src/api/topology.js';

const empty = (): Topology => ({ revision: 0, hosts: [], networks: [], leases: [], endpoints: [] });
const host = (name: string) => ({ name, underlayIp: `192.0.2.${name.slice(1)}`, alive: false, agentVersion: '0.1.0', lastSeen: '2026-11-29T00:00:00Z' });
const lease = (host: string, subnet: string) => ({ networkId: 'n1', subnet, host, underlayIp: '192.0.2.1', vtepMac: '02:00:00:00:00:01', expiresAt: '2026-11-30T00:00:00Z' });

t.test('liveness that arrives before the host record is kept for it', async (t) => {
  const topo = empty();
  const pending = new Set<string>();
  applyChanges(topo, [{ kind: 'alive', key: 'h1', value: true }], 5, pending);
  t.same(topo.hosts, []);
  applyChanges(topo, [{ kind: 'host', key: 'h1', value: host('h1') }], 6, pending);
  t.equal(topo.hosts[0]?.alive, true);
  t.equal(topo.revision, 6);
  // a record update keeps the liveness; a liveness delete greys the host
  applyChanges(topo, [{ kind: 'host', key: 'h1', value: { ...host('h1'), lastSeen: 'later' } }, { kind: 'alive', key: 'h1', value: false }], 7, pending);
  t.same([topo.hosts[0]?.lastSeen, topo.hosts[0]?.alive], ['later', false]);
});

t.test('puts and deletes are idempotent; the revision never goes back', async (t) => {
  const topo = empty();
  const put = { kind: 'lease' as const, key: 'n1/10.0.1.0/24', value: lease('h1', '10.0.1.0/24') };
  applyChanges(topo, [put, put], 3);
  t.equal(topo.leases.length, 1);
  applyChanges(topo, [{ kind: 'lease', key: 'n1/10.0.1.0/24', value: null }, { kind: 'lease', key: 'n1/10.0.1.0/24', value: null }], 2);
  t.equal(topo.leases.length, 0);
  t.equal(topo.revision, 3);
});

t.test('diff brings one topology to another', async (t) => {
  const a = empty();
  applyChanges(a, [{ kind: 'host', key: 'h1', value: host('h1') }, { kind: 'alive', key: 'h1', value: true }, { kind: 'host', key: 'h2', value: host('h2') },
    { kind: 'lease', key: 'n1/10.0.1.0/24', value: lease('h1', '10.0.1.0/24') }], 4);
  const b = empty();
  applyChanges(b, [{ kind: 'host', key: 'h1', value: host('h1') }, { kind: 'host', key: 'h3', value: host('h3') }, { kind: 'alive', key: 'h3', value: true },
    { kind: 'lease', key: 'n1/10.0.2.0/24', value: lease('h3', '10.0.2.0/24') }], 9);
  const c = structuredClone(a);
  applyChanges(c, diffTopologies(a, b), b.revision);
  const norm = (x: Topology) => ({ ...x, hosts: [...x.hosts].sort((p, q) => p.name.localeCompare(q.name)) });
  t.same(norm(c), norm(b));
});

t.test('peerings: every pair of hosts with a lease on the same network, once', async (t) => {
  const leases = [lease('h2', '10.0.2.0/24'), lease('h1', '10.0.1.0/24'), lease('h3', '10.0.3.0/24'), { ...lease('h1', '10.1.1.0/24'), networkId: 'n2' }];
  t.same(peerings({ leases }), [{ networkId: 'n1', a: 'h1', b: 'h2' }, { networkId: 'n1', a: 'h1', b: 'h3' }, { networkId: 'n1', a: 'h2', b: 'h3' }]);
});
