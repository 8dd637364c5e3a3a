import t from 'tap';
import { validateLabOptions } from '../src/lab/lab.js';

t.test('lab options: every problem in one error', async (t) => {
  t.doesNotThrow(() => validateLabOptions({ name: 'lab', hosts: 3, underlay: '192.0.2.0/24' }));
  t.doesNotThrow(() => validateLabOptions({ name: 'a-1', hosts: 252, underlay: '192.0.2.0/24' }), '252 hosts + 2 services fill a /24');
  t.throws(() => validateLabOptions({ name: 'lab', hosts: 253, underlay: '192.0.2.0/24' }), /too small for 253 hosts: it has 254 usable addresses and the lab needs 255/);
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
