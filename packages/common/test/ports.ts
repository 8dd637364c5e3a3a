import t from 'tap';
import { VxnetError } from '../src/index.js';
import { formatPort, formatPorts, parsePortSpec, portRequestsProblem } from '../src/api/index.js';

t.test('parsePortSpec: the forms -p takes', async (t) => {
  t.same(parsePortSpec('8080:80'), { hostPort: 8080, containerPort: 80, protocol: 'tcp' }, 'tcp by default, no host address');
  t.same(parsePortSpec('8080:80/tcp'), { hostPort: 8080, containerPort: 80, protocol: 'tcp' });
  t.same(parsePortSpec('5353:53/udp'), { hostPort: 5353, containerPort: 53, protocol: 'udp' });
  t.same(parsePortSpec('192.0.2.1:8080:80'), { hostIp: '192.0.2.1', hostPort: 8080, containerPort: 80, protocol: 'tcp' });
  t.same(parsePortSpec('192.0.2.1:1:65535/udp'), { hostIp: '192.0.2.1', hostPort: 1, containerPort: 65535, protocol: 'udp' }, 'the ends of the range');
  t.same(parsePortSpec('0.0.0.0:80:80'), { hostIp: '0.0.0.0', hostPort: 80, containerPort: 80, protocol: 'tcp' }, 'whether an address is the host\'s is the agent\'s to say');
});

t.test('parsePortSpec: bad values, one line each, saying what and the form', async (t) => {
  const form = 'expected [IP:]HOSTPORT:CONTAINERPORT[/tcp|udp]';
  const cases: Array<[string, string]> = [
    ['0:80', 'host port 0 is out of range 1-65535'],
    ['8080:0', 'container port 0 is out of range 1-65535'],
    ['70000:80', 'host port 70000 is out of range 1-65535'],
    ['80:70000', 'container port 70000 is out of range 1-65535'],
    ['abc:80', 'host port "abc" is not a number'],
    ['80:abc', 'container port "abc" is not a number'],
    ['-1:80', 'host port "-1" is not a number'],
    ['8e3:80', 'host port "8e3" is not a number'],
    ['8080:80/sctp', 'unknown protocol "sctp": expected tcp or udp'],
    ['8080:80/TCP', 'unknown protocol "TCP": expected tcp or udp'],
    ['8080:80/', 'the protocol after "/" is missing'],
    ['300.1.1.1:8080:80', 'host IP "300.1.1.1" is not an IPv4 address'],
    ['host.example:8080:80', 'host IP "host.example" is not an IPv4 address'],
    ['[::1]:8080:80', 'IPv6 host addresses are not supported'],
    [':8080:80', 'the host IP before the first ":" is empty (leave it out for the host\'s underlay address)'],
    ['80', 'give both the host port and the container port'],
    ['80/udp', 'give both the host port and the container port'],
    ['', 'it is empty'],
    [':80', 'the host port is missing'],
    ['8080:', 'the container port is missing'],
    ['192.0.2.1::80', 'the host port is missing'],
    ['192.0.2.1:80', '"192.0.2.1" is an address: give both ports after it'],
    ['8080-8081:80-81', 'host port range "8080-8081" is not supported: publish one port per -p'],
    ['1:2:3:4', 'too many ":"'],
  ];
  for (const [spec, why] of cases) {
    let err: unknown;
    try {
      parsePortSpec(spec);
    } catch (e) {
      err = e;
    }
    t.ok(err instanceof VxnetError, `"${spec}" is refused`);
    const message = (err as Error).message;
    t.equal(message, `invalid -p "${spec}": ${why} (${form})`, `"${spec}": ${why}`);
    t.notMatch(message, /\n/, 'one line');
    t.equal((err as VxnetError).statusCode, 400);
  }
  t.throws(() => parsePortSpec('0:80', '--publish'), { message: /^invalid --publish "0:80": / }, 'the flag as given');
});

t.test('formatPort: as docker prints it', async (t) => {
  t.equal(formatPort({ hostIp: '192.0.2.1', hostPort: 8080, containerPort: 80, protocol: 'tcp' }), '192.0.2.1:8080->80/tcp');
  t.equal(formatPort({ hostPort: 5353, containerPort: 53, protocol: 'udp' }), '5353->53/udp', 'a request without host address');
  t.equal(formatPorts([]), '');
  t.equal(formatPorts([parsePortSpec('8080:80'), parsePortSpec('192.0.2.1:53:53/udp')]), '8080->80/tcp, 192.0.2.1:53->53/udp');
  for (const spec of ['8080:80/tcp', '192.0.2.1:8080:80/udp']) {
    const p = parsePortSpec(spec);
    t.same(parsePortSpec(formatPort(p).replace('->', ':')), p, `${spec} round-trips`);
  }
});

t.test('portRequestsProblem: what the engine refuses from any API client', async (t) => {
  t.equal(portRequestsProblem([parsePortSpec('8080:80'), parsePortSpec('8080:80/udp'), parsePortSpec('192.0.2.1:8080:80')]), undefined, 'same port, other protocol or address: fine');
  t.equal(portRequestsProblem([parsePortSpec('8080:80'), parsePortSpec('8080:81')]), 'host port 8080/tcp is published twice');
  t.equal(portRequestsProblem([parsePortSpec('192.0.2.1:53:53/udp'), parsePortSpec('192.0.2.1:53:5353/udp')]), 'host port 192.0.2.1:53/udp is published twice');
  t.equal(portRequestsProblem([{ hostIp: '1.2.3', hostPort: 1, containerPort: 1, protocol: 'tcp' }]), 'invalid published port 1.2.3:1->1/tcp: host IP "1.2.3" is not an IPv4 address');
  t.equal(portRequestsProblem([{ hostPort: 0, containerPort: 1, protocol: 'tcp' }]), 'invalid published port 0->1/tcp: host port 0 is out of range 1-65535');
  t.equal(portRequestsProblem([{ hostPort: 1, containerPort: 1, protocol: 'sctp' as 'tcp' }]), 'invalid published port 1->1/sctp: unknown protocol "sctp": expected tcp or udp');
});
