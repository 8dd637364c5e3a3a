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
