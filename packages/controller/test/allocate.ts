/**
 * The allocation policy without a store: request validation, the ranges no network may
 * overlap, the order of VNIs and default-pool blocks. The claims themselves are tested
 * in network-service.ts (MemoryStore) and races.ts (etcd, Redis).
 */
import t from 'tap';
import { parseCidr } from '@vxnet/common';
import {
  PoolBlocks, VNI_AUTO_START, VNI_MAX, checkExplicitSubnet, freeVnis, nextAutoVni, validateCreateRequest, type HostRoute, type PoolConfig,
} from '../src/network/allocate.js';

const pool: PoolConfig = { defaultPool: '10.128.0.0/9', defaultBlockLength: 16, excluded: [{ cidr: '192.0.2.0/24', reason: 'the underlay' }] };

/** The text of the first free block from `from`, as the full read of a create finds it. */
function firstFree(p: PoolConfig, claimed: string[], from = 0, routes: HostRoute[] = []): string | undefined {
  const blocks = new PoolBlocks(p, validateCreateRequest({ name: 'n' }), routes);
  const [i] = blocks.freeBlocks(claimed, from, 1);
  return i === undefined ? undefined : blocks.at(i).text;
}

function explicit(p: PoolConfig, subnet: string, routes: HostRoute[] = []): void {
  const req = validateCreateRequest({ name: 'n1', subnet, hostSubnetLength: 26 });
  checkExplicitSubnet({ ...req, subnet: req.subnet! }, p, routes);
}

t.test('pool blocks: numbered from the start of the pool; the first free one from a cursor, wrapping', async (t) => {
  const blocks = new PoolBlocks(pool, validateCreateRequest({ name: 'n' }), []);
  t.equal(blocks.count, 128, 'a /9 holds 128 /16s');
  t.equal(blocks.at(0).text, '10.128.0.0/16');
  t.equal(blocks.at(127).text, '10.255.0.0/16');
  t.equal(firstFree(pool, []), '10.128.0.0/16');
  // a user network inside the pool is skipped around, and a hole is reused
  t.equal(firstFree(pool, ['10.128.0.0/16', '10.129.4.0/24', '10.131.0.0/16']), '10.130.0.0/16');
  t.equal(firstFree(pool, ['10.128.0.0/16', '10.129.0.0/16'], 5), '10.133.0.0/16', 'from the cursor on');
  t.equal(firstFree(pool, ['10.255.0.0/16', '10.129.0.0/16'], 127), '10.128.0.0/16', 'past the end: wraps to the first free');
  t.same(blocks.freeBlocks(['10.129.0.0/16', '10.131.0.0/16'], 126, 5), [126, 127, 0, 2, 4], 'several, in order from the cursor, wrapping');
});

t.test('VNIs: from 4096 up, wrapping back to 4096 after the last', async (t) => {
  t.equal(nextAutoVni(4096), 4097);
  t.equal(nextAutoVni(VNI_MAX), VNI_AUTO_START);
  t.equal(nextAutoVni(7), VNI_AUTO_START, 'a VNI below the automatic range goes to its start');
  t.same(freeVnis(new Set([4096, 4097, 4099]), 4096, 3), [4098, 4100, 4101]);
  t.same(freeVnis(new Set([VNI_MAX]), VNI_MAX - 1, 3), [VNI_MAX - 1, VNI_AUTO_START, VNI_AUTO_START + 1], 'wraps');
  t.same(freeVnis(new Set(), 12, 1), [VNI_AUTO_START], 'a cursor outside the range starts over');
});

t.test('explicit subnets: the underlay is refused', async (t) => {
  t.throws(() => explicit(pool, '192.0.0.0/16'), /could not create network "n1": subnet 192\.0\.0\.0\/16 overlaps 192\.0\.2\.0\/24 \(the underlay\)/);
  t.doesNotThrow(() => explicit(pool, '172.20.0.0/16'));
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
  t.throws(() => new PoolBlocks(pool, validateCreateRequest({ name: 'n', hostSubnetLength: 17 }), []), /leave fewer than 4 per \/16 block/);
});

t.test('pool exhaustion', async (t) => {
  const small: PoolConfig = { defaultPool: '10.0.0.0/15', defaultBlockLength: 16, excluded: [] };
  t.equal(firstFree(small, ['10.0.0.0/16', '10.1.0.0/16']), undefined, 'no free block');
  const blocks = new PoolBlocks(small, validateCreateRequest({ name: 'c' }), []);
  t.match(blocks.exhausted('c').message, /could not create network "c": the default pool 10\.0\.0\.0\/15 has no free \/16 left/);
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
    t.throws(() => explicit(bare, subnet), {
      code: 'VXNET_SUBNET_OVERLAP',
      message: `could not create network "n1": subnet ${subnet} overlaps ${what}`,
    }, subnet);
  }
  t.doesNotThrow(() => explicit(bare, '128.0.0.0/16'), 'next to loopback is fine');
});

t.test('the default pool never hands out a reserved range', async (t) => {
  // a pool that starts in 127/8: the first block handed out is the first one after it
  const wide: PoolConfig = { defaultPool: '126.0.0.0/7', defaultBlockLength: 16, excluded: [] };
  t.equal(firstFree(wide, []), '126.0.0.0/16');
  t.equal(firstFree(wide, Array.from({ length: 256 }, (_, i) => `126.${i}.0.0/16`)), undefined, '127/8 is never used even when the rest is full');
  const blocks = new PoolBlocks(wide, validateCreateRequest({ name: 'n' }), []);
  t.notOk(blocks.usable(parseCidr('127.0.0.0/16')), 'a block in 127/8 is not usable');
  t.ok(blocks.usable(parseCidr('126.255.0.0/16')), 'the block before it is');
  const multicast: PoolConfig = { defaultPool: '224.0.0.0/3', defaultBlockLength: 16, excluded: [] };
  t.equal(firstFree(multicast, []), undefined, 'a pool that is all reserved has no free block');
});

t.test('routes of live hosts: an overlapping subnet is refused naming host and route; the pool skips them', async (t) => {
  const routes = [{ host: 'h1', cidr: '172.16.0.0/12' }, { host: 'h2', cidr: '10.99.1.0/24' }, { host: 'h2', cidr: '10.128.0.0/16' }];
  t.throws(() => explicit(pool, '10.99.0.0/16', routes), {
    code: 'VXNET_SUBNET_OVERLAP',
    message: 'could not create network "n1": subnet 10.99.0.0/16 overlaps route 10.99.1.0/24 on host h2',
  });
  t.throws(() => explicit(pool, '172.20.0.0/16', routes), /overlaps route 172\.16\.0\.0\/12 on host h1/);
  t.doesNotThrow(() => explicit(pool, '10.99.2.0/24', routes), 'next to a route is fine');
  // 10.128.0.0/16 is a route of h2: the pool hands out the next block
  t.equal(firstFree(pool, [], 0, routes), '10.129.0.0/16');
  t.equal(firstFree(pool, [], 0, [{ host: 'vpn', cidr: '10.0.0.0/8' }]), undefined, 'a route over the whole pool leaves nothing');
});
