/** Published ports checked against a host: the messages a user sees. */
import t from 'tap';

import type { PortRequest } from '@vxnet/common/api';
import { portText, publishableAddresses, resolvePorts, type PortContext } from '../../src/ports/published-ports.js';

const ctx = (over: Partial<PortContext> = {}): PortContext => ({
  host: 'h1',
  underlayIp: '198.51.100.1',
  hostAddresses: ['198.51.100.1', '203.0.113.7'],
  published: [{ mapping: { hostIp: '198.51.100.1', hostPort: 8080, containerPort: 80, protocol: 'tcp' }, container: '0123456789abcdef0123', endpointName: 'web' }],
  ...over,
});
const req = (over: Partial<PortRequest> = {}): PortRequest => ({ hostPort: 9090, containerPort: 80, protocol: 'tcp', ...over });

t.test('the host address defaults to the underlay address; given ones are kept canonical', async (t) => {
  t.same(resolvePorts([req()], ctx()), [{ hostIp: '198.51.100.1', hostPort: 9090, containerPort: 80, protocol: 'tcp' }]);
  t.same(resolvePorts([req({ hostIp: '203.0.113.7', protocol: 'udp' })], ctx())[0], { hostIp: '203.0.113.7', hostPort: 9090, containerPort: 80, protocol: 'udp' });
  t.equal(resolvePorts([req({ hostIp: '0.0.0.0' })], ctx())[0]?.hostIp, '0.0.0.0', '0.0.0.0: every address');
  t.same(resolvePorts(undefined, ctx()), []);
});

t.test('an address that is not this host\'s is refused, naming it and the host\'s addresses', async (t) => {
  t.throws(() => resolvePorts([req({ hostIp: '192.0.2.55' })], ctx()), {
    code: 'VXNET_PORT_UNAVAILABLE',
    message: 'could not publish 192.0.2.55:9090/tcp: 192.0.2.55 is not an address of host h1 (its addresses: 198.51.100.1, 203.0.113.7; or 0.0.0.0 for all)',
  });
  t.throws(() => resolvePorts([req({ hostIp: 'abc' })], ctx()), { code: 'VXNET_INVALID_ARGUMENT', message: 'invalid host address "abc" for port 9090/tcp: expected an IPv4 address' });
  t.throws(() => resolvePorts([req({ hostIp: '198.51.100.01' })], ctx()), { code: 'VXNET_INVALID_ARGUMENT' }, 'leading zeros are not IPv4 text');
});

t.test('a port published for another endpoint is refused naming the container; 0.0.0.0 overlaps every address', async (t) => {
  const taken = 'could not publish %s: 198.51.100.1:8080/tcp is published for container 0123456789ab (endpoint "web") on host h1';
  t.throws(() => resolvePorts([req({ hostPort: 8080 })], ctx()), { code: 'VXNET_PORT_UNAVAILABLE', message: taken.replace('%s', '198.51.100.1:8080/tcp') });
  t.throws(() => resolvePorts([req({ hostPort: 8080, hostIp: '0.0.0.0' })], ctx()), { message: taken.replace('%s', '0.0.0.0:8080/tcp') });
  const anyTaken = ctx({ published: [{ mapping: { hostIp: '0.0.0.0', hostPort: 53, containerPort: 53, protocol: 'udp' }, container: 'c2', endpointName: 'dns' }] });
  t.throws(() => resolvePorts([req({ hostPort: 53, protocol: 'udp', hostIp: '203.0.113.7' })], anyTaken), { message: /0\.0\.0\.0:53\/udp is published for container c2 \(endpoint "dns"\)/ });
  t.same(resolvePorts([req({ hostPort: 8080, protocol: 'udp' })], ctx()).length, 1, 'the other protocol is free');
  t.same(resolvePorts([req({ hostPort: 8080, hostIp: '203.0.113.7' })], ctx()).length, 1, 'the same port on another address is free');
});

t.test('the same port twice in one request is refused', async (t) => {
  t.throws(() => resolvePorts([req(), req({ containerPort: 81 })], ctx()), { message: 'could not publish 198.51.100.1:9090/tcp: it is asked for twice' });
});

t.test('publishable addresses: not loopback, not the uplinks\' link-local ends', async (t) => {
  const all = [
    { ip: '127.0.0.1', ifname: 'lo' }, { ip: '198.51.100.1', ifname: 'eth0' }, { ip: '169.254.1.1', ifname: 'vxu-aaaaaaaaaaa' },
    { ip: '169.254.1.1', ifname: 'vxu-bbbbbbbbbbb' }, { ip: '203.0.113.7', ifname: 'eth1' },
  ];
  t.same(publishableAddresses(all, (n) => n.startsWith('vxu-')), ['198.51.100.1', '203.0.113.7']);
  t.equal(portText({ hostIp: '198.51.100.1', hostPort: 1, protocol: 'udp' }), '198.51.100.1:1/udp');
});
