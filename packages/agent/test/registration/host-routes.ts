/**
 * Which routes an agent reports: the pure filter on hand-made netlink messages, and
 * readHostRoutes() against a scratch namespace holding every kind of route.
 */
import t from 'tap';
import type { rt } from 'netlink';
import { hostRoutes, readHostRoutes } from '../../src/registration/host-routes.js';
import { ip, makeNs, removeAll, skipReason, testPrefix } from '../dataplane/helpers/sim.js';

const ipv4 = (text: string) => Buffer.from(text.split('.').map(Number));
const route = (dst: string | undefined, dstLen: number, over: Partial<rt.Route> = {}, table = 254): rt.RouteMessage => ({
  kind: 'route',
  data: { family: 2, dstLen, srcLen: 0, tos: 0, table, protocol: 'BOOT', scope: 'UNIVERSE', type: 'UNICAST', flags: {}, ...over },
  attrs: { ...(dst ? { dst: ipv4(dst) } : {}), table, oif: 3 },
});
const address = (addr: string, prefixlen: number, scope = 0): rt.AddressMessage => ({
  kind: 'address',
  data: { family: 2, prefixlen, flags: {}, scope, index: 3 },
  attrs: { address: ipv4(addr), local: ipv4(addr) },
});

t.test('hostRoutes keeps main-table routes that claim a range and connected subnets; nothing else', async (t) => {
  const got = hostRoutes(
    [
      route(undefined, 0), // default
      route('10.99.1.0', 24),
      route('198.51.100.0', 24, { protocol: 'KERNEL', scope: 'LINK' }),
      route('10.200.0.0', 16, { type: 'BLACKHOLE' }),
      route('10.203.0.0', 16, { type: 'UNREACHABLE' }),
      route('10.202.0.0', 16, { scope: 'HOST' }),
      route('10.201.0.0', 16, {}, 100), // another table
      route('127.0.0.0', 8, { type: 'LOCAL', scope: 'HOST' }, 255),
      route('198.51.100.255', 32, { type: 'BROADCAST', scope: 'LINK' }, 255),
      route('10.99.1.0', 24), // duplicate
    ],
    [
      address('127.0.0.1', 8, 254), // loopback: host scope
      address('198.51.100.5', 24),
      address('203.0.113.77', 28), // noprefixroute: no route of its own
      address('203.0.113.9', 32),
    ],
  );
  // sorted by address (10.99 before 10.200), not as text
  t.same(got, ['10.99.1.0/24', '10.200.0.0/16', '10.203.0.0/16', '198.51.100.0/24', '203.0.113.9/32', '203.0.113.64/28']);
});

const skip = skipReason();
t.test('readHostRoutes reads the namespace it is given', { skip: skip ?? false }, async (t) => {
  const prefix = testPrefix('routes');
  t.teardown(() => removeAll(prefix));
  const ns = makeNs(`${prefix}-h1`);
  ip('-n', ns, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth1');
  for (const dev of ['eth0', 'eth1']) ip('-n', ns, 'link', 'set', dev, 'up');
  ip('-n', ns, 'addr', 'add', '198.51.100.5/24', 'dev', 'eth0');
  ip('-n', ns, 'addr', 'add', '203.0.113.77/28', 'dev', 'eth1', 'noprefixroute');
  ip('-n', ns, 'route', 'add', '10.99.1.0/24', 'via', '198.51.100.1');
  ip('-n', ns, 'route', 'add', 'default', 'via', '198.51.100.1');
  ip('-n', ns, 'route', 'add', 'blackhole', '10.200.0.0/16');
  ip('-n', ns, 'route', 'add', '10.201.0.0/16', 'dev', 'eth0', 'table', '100');
  ip('-n', ns, 'route', 'add', '10.202.0.0/16', 'dev', 'eth0', 'scope', 'host');
  t.same(await readHostRoutes(ns), ['10.99.1.0/24', '10.200.0.0/16', '198.51.100.0/24', '203.0.113.64/28']);
});
