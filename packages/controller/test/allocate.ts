import t from 'tap';
import type { Allocation } from '@vxnet/common';
import { allocate, validateCreateRequest, type PoolConfig } from '../src/network/allocate.js';

const pool: PoolConfig = { defaultPool: '10.128.0.0/9', defaultBlockLength: 16, excluded: [{ cidr: '192.0.2.0/24', reason: 'the underlay' }] };
const alloc = (name: string, subnet: string, vni: number): Allocation => ({ id: `${name}-id`.padEnd(64, '0'), name, subnet, vni, claimedAt: new Date().toISOString() });

t.test('defaults: next free /16 of the pool, VNIs from 4096', async (t) => {
  const a = allocate([], validateCreateRequest({ name: 'n1' }), pool);
  t.same(a, { subnet: '10.128.0.0/16', vni: 4096 });
  const b = allocate([alloc('n1', '10.128.0.0/16', 4096)], validateCreateRequest({ name: 'n2' }), pool);
  t.same(b, { subnet: '10.129.0.0/16', vni: 4097 });
  // a user network inside the pool is skipped around, and a hole is reused
  const c = allocate([alloc('a', '10.128.0.0/16', 4096), alloc('u', '10.129.4.0/24', 7), alloc('c', '10.131.0.0/16', 4097)], validateCreateRequest({ name: 'x' }), pool);
  t.same(c, { subnet: '10.130.0.0/16', vni: 4098 });
});

t.test('explicit subnet and VNI', async (t) => {
  t.same(allocate([], validateCreateRequest({ name: 'n', subnet: '172.20.0.0/16', vni: 42 }), pool), { subnet: '172.20.0.0/16', vni: 42 });
  const existing = [alloc('net0', '10.20.0.0/16', 100)];
  t.throws(() => allocate(existing, validateCreateRequest({ name: 'n', subnet: '10.20.128.0/17' }), pool), /could not create network "n": subnet 10\.20\.128\.0\/17 overlaps network "net0" \(10\.20\.0\.0\/16\)/);
  t.throws(() => allocate(existing, validateCreateRequest({ name: 'n', subnet: '10.0.0.0/8' }), pool), /overlaps network "net0"/);
  t.throws(() => allocate(existing, validateCreateRequest({ name: 'n', subnet: '192.0.0.0/16' }), pool), /overlaps 192\.0\.2\.0\/24 \(the underlay\)/);
  t.throws(() => allocate(existing, validateCreateRequest({ name: 'n', vni: 100 }), pool), /VNI 100 is in use by network "net0"/);
  t.throws(() => allocate(existing, validateCreateRequest({ name: 'net0' }), pool), { code: 'VXNET_NETWORK_NAME_TAKEN' });
});

t.test('bad requests say what and why, all problems at once', async (t) => {
  const cases: Array<[object, RegExp]> = [
    [{ name: 'n', subnet: '10.0.0.0/33' }, /invalid subnet "10\.0\.0\.0\/33": prefix length 33 is out of range/],
    [{ name: 'n', subnet: '10.0.0.1/16' }, /host bits are set \(did you mean 10\.0\.0\.0\/16\?\)/],
    [{ name: 'n', subnet: '10.0.0.0/23' }, /holds 2 host subnet\(s\) of \/24; a network needs at least 4/],
    [{ name: 'n', subnet: '10.0.0.0/16', hostSubnetLength: 31 }, /invalid host subnet length 31/],
    [{ name: 'n', vni: 0 }, /invalid VNI 0: must be 1-16777215/],
    [{ name: 'n', vni: 16777216 }, /invalid VNI 16777216/],
    [{ name: 'n', mtu: 100 }, /invalid MTU 100/],
    [{ name: '-bad' }, /invalid network name "-bad"/],
    [{ name: 'x'.repeat(65) }, /invalid network name/],
    [{ name: 'n', labels: { '': 'v' } }, /invalid label key ""/],
    [{ name: 'n', driver: 'bridge' }, /unsupported driver "bridge" \(supported drivers: overlay\)/],
  ];
  for (const [req, re] of cases) t.throws(() => validateCreateRequest(req as never), re, JSON.stringify(req));
  t.throws(() => validateCreateRequest({ name: '!', vni: -1, mtu: 1 }), /invalid network name.*; invalid VNI -1.*; invalid MTU 1/);
  t.throws(() => allocate([], validateCreateRequest({ name: 'n', hostSubnetLength: 17 }), pool), /leave fewer than 4 per \/16 block/);
});

t.test('pool exhaustion', async (t) => {
  const small: PoolConfig = { defaultPool: '10.0.0.0/15', defaultBlockLength: 16, excluded: [] };
  const full = [alloc('a', '10.0.0.0/16', 4096), alloc('b', '10.1.0.0/16', 4097)];
  t.throws(() => allocate(full, validateCreateRequest({ name: 'c' }), small), /the default pool 10\.0\.0\.0\/15 has no free \/16 left/);
});

t.test('reserved ranges are refused whatever the configuration, naming the range and why', async (t) => {
  const bare: PoolConfig = { defaultPool: '10.128.0.0/9', defaultBlockLength: 16, excluded: [] };
  const cases: Array<[string, string]> = [
    ['127.0.0.0/8', '127.0.0.0/8 (loopback, reserved)'],
    ['127.1.0.0/16', '127.0.0.0/8 (loopback, reserved)'],
    ['0.0.0.0/16', '0.0.0.0/8 ("this network", reserved)'],
    ['169.254.0.0/16', '169.254.0.0/16 (link-local, reserved)'],
    ['224.0.0.0/4', '224.0.0.0/4 (multicast, reserved)'],
    ['239.255.0.0/16', '224.0.0.0/4 (multicast, reserved)'],
    ['240.0.0.0/8', '240.0.0.0/4 (future use and broadcast, reserved)'],
    ['126.0.0.0/7', '127.0.0.0/8 (loopback, reserved)'],
  ];
  for (const [subnet, what] of cases) {
    t.throws(() => allocate([], validateCreateRequest({ name: 'n1', subnet }), bare), {
      code: 'VXNET_SUBNET_OVERLAP',
      message: `could not create network "n1": subnet ${subnet} overlaps ${what}`,
    }, subnet);
  }
  t.same(allocate([], validateCreateRequest({ name: 'n1', subnet: '128.0.0.0/16' }), bare).subnet, '128.0.0.0/16', 'next to loopback is fine');
});

t.test('the default pool never hands out a reserved range', async (t) => {
  // a pool that starts in 127/8: the first block handed out is the first one after it
  const wide: PoolConfig = { defaultPool: '126.0.0.0/7', defaultBlockLength: 16, excluded: [] };
  t.same(allocate([], validateCreateRequest({ name: 'n' }), wide).subnet, '126.0.0.0/16');
  const rest = Array.from({ length: 256 }, (_, i) => alloc(`n${i}`, `126.${i}.0.0/16`, 5000 + i));
  t.throws(() => allocate(rest, validateCreateRequest({ name: 'x' }), wide), { code: 'VXNET_POOL_EXHAUSTED' }, '127/8 is never used even when the rest is full');
  const multicast: PoolConfig = { defaultPool: '224.0.0.0/3', defaultBlockLength: 16, excluded: [] };
  t.throws(() => allocate([], validateCreateRequest({ name: 'x' }), multicast), /the default pool 224\.0\.0\.0\/3 has no free \/16 left/);
});

t.test('routes of live hosts: an overlapping subnet is refused naming host and route; the pool skips them', async (t) => {
  const routes = [{ host: 'h1', cidr: '172.16.0.0/12' }, { host: 'h2', cidr: '10.99.1.0/24' }, { host: 'h2', cidr: '10.128.0.0/16' }];
  t.throws(() => allocate([], validateCreateRequest({ name: 'n1', subnet: '10.99.0.0/16' }), pool, routes), {
    code: 'VXNET_SUBNET_OVERLAP',
    message: 'could not create network "n1": subnet 10.99.0.0/16 overlaps route 10.99.1.0/24 on host h2',
  });
  t.throws(() => allocate([], validateCreateRequest({ name: 'n1', subnet: '172.20.0.0/16' }), pool, routes), /overlaps route 172\.16\.0\.0\/12 on host h1/);
  t.same(allocate([], validateCreateRequest({ name: 'n1', subnet: '10.99.2.0/24', hostSubnetLength: 26 }), pool, routes).subnet, '10.99.2.0/24', 'next to a route is fine');
  // 10.128.0.0/16 is a route of h2: the pool hands out the next block
  t.same(allocate([], validateCreateRequest({ name: 'n1' }), pool, routes).subnet, '10.129.0.0/16');
  t.throws(() => allocate([], validateCreateRequest({ name: 'n1' }), pool, [{ host: 'vpn', cidr: '10.0.0.0/8' }]), {
    code: 'VXNET_POOL_EXHAUSTED',
    message: /no free \/16 left that overlaps no network, reserved or excluded range, or route of a live host \(pass --subnet\)/,
  });
});
