import t from 'tap';
import { addressAt, cidrsOverlap, formatIpv4, networkOf, parseCidr, parseIpv4, VxnetError } from '../src/index.js';

t.test('parseIpv4 accepts exactly dotted quads', async (t) => {
  t.equal(parseIpv4('0.0.0.0'), 0);
  t.equal(parseIpv4('255.255.255.255'), 0xffffffff);
  t.equal(parseIpv4('192.0.2.1'), 0xc0000201);
  for (const bad of ['', '1.2.3', '1.2.3.4.5', '256.0.0.1', '01.2.3.4', '1.2.3.-4', '1.2.3.4 ', 'a.b.c.d', '1..3.4']) {
    t.equal(parseIpv4(bad), undefined, `rejects "${bad}"`);
  }
  t.equal(formatIpv4(0xc0000201), '192.0.2.1');
});

t.test('parseCidr wants canonical IPv4 CIDRs and says why not', async (t) => {
  t.same(parseCidr('10.0.0.0/16'), { network: 0x0a000000, prefixLength: 16, text: '10.0.0.0/16' });
  t.same(parseCidr('0.0.0.0/0').text, '0.0.0.0/0');
  t.same(parseCidr('192.0.2.7/32').text, '192.0.2.7/32');
  const cases: Array<[string, RegExp]> = [
    ['10.0.0.0/33', /prefix length 33 is out of range 0-32/],
    ['10.0.0.1/16', /host bits are set \(did you mean 10\.0\.0\.0\/16\?\)/],
    ['10.0.0.0', /expected an IPv4 CIDR/],
    ['10.0.0.0/', /expected an IPv4 CIDR/],
    ['10.0.0.0/016', /expected an IPv4 CIDR/],
    ['300.0.0.0/8', /expected an IPv4 CIDR/],
    ['fe80::/64', /expected an IPv4 CIDR/],
  ];
  for (const [text, re] of cases) {
    t.throws(() => parseCidr(text, 'subnet'), re, text);
    try {
      parseCidr(text, 'subnet');
    } catch (err) {
      t.ok(err instanceof VxnetError && err.code === 'VXNET_INVALID_ARGUMENT' && err.message.startsWith(`invalid subnet "${text}"`));
    }
  }
});

t.test('addressAt counts from the network address, negative from the end', async (t) => {
  const c = parseCidr('192.0.2.0/24');
  t.equal(addressAt(c, 1), '192.0.2.1');
  t.equal(addressAt(c, -2), '192.0.2.254');
  t.throws(() => addressAt(c, 256), RangeError);
  t.throws(() => addressAt(c, -257), RangeError);
});

t.test('cidrsOverlap: any shared address, including containment and the edges', async (t) => {
  const c = (s: string) => parseCidr(s);
  t.ok(cidrsOverlap(c('10.0.0.0/8'), c('10.99.1.0/24')), 'containment');
  t.ok(cidrsOverlap(c('10.99.1.0/24'), c('10.0.0.0/8')), 'symmetric');
  t.ok(cidrsOverlap(c('10.0.0.255/32'), c('10.0.0.0/24')), 'last address');
  t.notOk(cidrsOverlap(c('10.0.1.0/24'), c('10.0.0.0/24')), 'adjacent');
  t.ok(cidrsOverlap(c('0.0.0.0/0'), c('255.255.255.255/32')), 'the whole space');
});

t.test('networkOf: the network an interface address is on', async (t) => {
  t.equal(networkOf('198.51.100.5', 24)?.text, '198.51.100.0/24');
  t.equal(networkOf('203.0.113.77', 28)?.text, '203.0.113.64/28');
  t.equal(networkOf('203.0.113.9', 32)?.text, '203.0.113.9/32');
  t.equal(networkOf('10.1.2.3', 0)?.text, '0.0.0.0/0');
  for (const [a, l] of [['10.1.2.3', 33], ['10.1.2', 24], ['', 24], ['10.1.2.3', 1.5]] as const) t.equal(networkOf(a, l), undefined, `${a}/${l}`);
});
