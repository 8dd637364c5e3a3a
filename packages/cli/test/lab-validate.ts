import t from 'tap';
import { parseCidr } from '@vxnet/common';
import { validateLabOptions } from '../src/lab/lab.js';
import { outsideNetworkFor, planOutside } from '../src/lab/outside.js';

t.test('lab options: every problem in one error', async (t) => {
  t.doesNotThrow(() => validateLabOptions({ name: 'lab', hosts: 3, underlay: '192.0.2.0/24' }));
  t.doesNotThrow(() => validateLabOptions({ name: 'a-1', hosts: 251, underlay: '192.0.2.0/24' }), '251 hosts + store, controller and router fill a /24');
  t.throws(() => validateLabOptions({ name: 'lab', hosts: 252, underlay: '192.0.2.0/24' }), /too small for 252 hosts: it has 254 usable addresses and the lab needs 255 \(hosts \+ store \+ controller \+ router\)/);
  t.doesNotThrow(() => validateLabOptions({ name: 'lab', hosts: 3, underlay: '192.0.2.0/29' }), '3 hosts + 3 services fill a /29');
  t.throws(() => validateLabOptions({ name: 'lab', hosts: 4, underlay: '192.0.2.0/29' }), /too small for 4 hosts: it has 6 usable addresses and the lab needs 7/);
  t.throws(() => validateLabOptions({ name: 'lab', hosts: 1, underlay: '192.0.2.0/31' }), /too small/);
  for (const bad of ['', '-a', 'a-', 'A', 'a.b', 'a_b', 'x'.repeat(25)]) {
    t.throws(() => validateLabOptions({ name: bad, hosts: 1, underlay: '192.0.2.0/24' }), /invalid lab name/, `name "${bad}"`);
  }
  t.throws(
    () => validateLabOptions({ name: 'Bad', hosts: 0, underlay: '10.0.0.1/8' }),
    { message: /invalid lab name "Bad".*; invalid --hosts "0".*; invalid underlay CIDR "10\.0\.0\.1\/8": host bits are set/ },
    'all three problems reported together',
  );
  t.doesNotThrow(() => validateLabOptions({ name: 'lab', hosts: 1, underlay: '192.0.2.0/24', dnsUpstream: '192.0.2.250,192.0.2.251:5353' }));
  t.throws(() => validateLabOptions({ name: 'lab', hosts: 1, underlay: '192.0.2.0/24', dnsUpstream: 'dns.example' }), /invalid --dns-upstream "dns\.example": expected IP or IP:port/);
  t.throws(() => validateLabOptions({ name: 'lab', hosts: 1, underlay: '192.0.2.0/24', dnsUpstream: '300.1.1.1' }), /invalid --dns-upstream "300\.1\.1\.1"/);
});

t.test('lab options: etcd members and controllers', async (t) => {
  t.doesNotThrow(() => validateLabOptions({ name: 'lab', hosts: 3, underlay: '192.0.2.0/24', storeMembers: 3, controllers: 2 }));
  t.doesNotThrow(() => validateLabOptions({ name: 'lab', hosts: 1, underlay: '192.0.2.0/29', storeMembers: 3 }), '1 host + 3 members, a controller and the router fill a /29');
  t.throws(() => validateLabOptions({ name: 'lab', hosts: 2, underlay: '192.0.2.0/29', storeMembers: 3 }), /lab needs 7 \(hosts \+ store \+ controller \+ router \+ 2 more etcd members\)/);
  t.throws(() => validateLabOptions({ name: 'lab', hosts: 1, underlay: '192.0.2.0/29', storeMembers: 3, controllers: 2 }), /\+ 2 more etcd members \+ 1 more controllers/);
  for (const n of [0, 2, 4, 7]) {
    t.throws(() => validateLabOptions({ name: 'lab', hosts: 1, underlay: '192.0.2.0/24', storeMembers: n }), new RegExp(`invalid --store-members "${n}": expected 1, 3, 5`), `${n} members`);
  }
  t.throws(() => validateLabOptions({ name: 'lab', hosts: 1, underlay: '192.0.2.0/24', storeMembers: 3, store: 'redis' }), /--store-members 3 needs --store etcd/);
  t.throws(() => validateLabOptions({ name: 'lab', hosts: 1, underlay: '192.0.2.0/24', controllers: 4 }), /invalid --controllers "4": expected 1-3/);
});

t.test('the outside: a TEST-NET that is not the underlay, router .1, outside host .10', async (t) => {
  t.equal(outsideNetworkFor(parseCidr('192.0.2.0/24'))?.text, '198.51.100.0/24');
  t.equal(outsideNetworkFor(parseCidr('198.51.100.0/24'))?.text, '203.0.113.0/24', 'an underlay on 198.51.100.0/24 gets 203.0.113.0/24');
  t.equal(outsideNetworkFor(parseCidr('198.51.100.128/25'))?.text, '203.0.113.0/24', 'any overlap counts');
  t.equal(outsideNetworkFor(parseCidr('203.0.113.0/24'))?.text, '198.51.100.0/24');
  t.equal(outsideNetworkFor(parseCidr('192.0.0.0/2')), undefined, 'an underlay covering both: none');
  t.throws(() => validateLabOptions({ name: 'lab', hosts: 3, underlay: '192.0.0.0/2' }), /overlaps both networks the lab's outside can use \(198\.51\.100\.0\/24, 203\.0\.113\.0\/24\)/);
  const o = planOutside('vx-l.', parseCidr('198.51.100.0/24'), '192.0.2.252', '/x/outside.log');
  t.match(o, { routerNetns: 'vx-l.rt', routerUnderlayIp: '192.0.2.252', network: '198.51.100.0/24', routerIp: '198.51.100.1', netns: 'vx-l.out', ip: '198.51.100.10' });
  t.match(o.command.at(-2), /outside-server\.js$/, 'the responder compiled with the CLI');
  t.equal(o.command.at(-1), '198.51.100.10');
});
