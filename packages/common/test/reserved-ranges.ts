import t from 'tap';
import { RESERVED_RANGES, parseCidr, reservedRangeOverlapping } from '../src/index.js';

t.test('every reserved range is a canonical CIDR', async (t) => {
  for (const r of RESERVED_RANGES) t.equal(parseCidr(r.cidr).text, r.cidr);
  t.same(RESERVED_RANGES.map((r) => r.cidr), ['0.0.0.0/8', '127.0.0.0/8', '169.254.0.0/16', '224.0.0.0/4', '240.0.0.0/4']);
  t.ok(Object.isFrozen(RESERVED_RANGES) && Object.isFrozen(RESERVED_RANGES[0]), 'nobody can edit the list');
});

t.test('reservedRangeOverlapping names the range a CIDR falls in or covers', async (t) => {
  const cases: Array<[string, string | undefined]> = [
    ['127.0.0.0/8', '127.0.0.0/8'],
    ['127.1.0.0/16', '127.0.0.0/8'],
    ['0.0.0.0/16', '0.0.0.0/8'],
    ['169.254.169.0/24', '169.254.0.0/16'],
    ['224.0.0.0/4', '224.0.0.0/4'],
    ['239.255.0.0/16', '224.0.0.0/4'],
    ['255.255.255.0/24', '240.0.0.0/4'],
    ['0.0.0.0/0', '0.0.0.0/8'], // covers all of them: the first is named
    ['126.0.0.0/7', '127.0.0.0/8'],
    ['10.0.0.0/8', undefined],
    ['128.0.0.0/8', undefined],
    ['169.253.0.0/16', undefined],
    ['223.255.255.0/24', undefined],
  ];
  for (const [cidr, want] of cases) t.equal(reservedRangeOverlapping(parseCidr(cidr))?.cidr, want, cidr);
  t.equal(reservedRangeOverlapping(parseCidr('127.1.0.0/16'))?.reason, 'loopback, reserved');
});
