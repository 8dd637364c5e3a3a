import t from 'tap';
import { checkRunRequest, parseNetworks } from '../src/run-request.js';
import { hostsFile, resolvConf } from '../src/sandbox/etc-files.js';
import { hostnameProblem, nameProblem } from '../src/names.js';

const what = 'could not create container "x"';

t.test('--net: overlay networks, or exactly one of none / host / container:C; default none', async (t) => {
  t.same(parseNetworks({}, what), { kind: 'none' });
  t.same(parseNetworks({ networks: ['net1', 'net2'] }, what), { kind: 'overlay', networks: ['net1', 'net2'] });
  t.same(parseNetworks({ networks: ['host'] }, what), { kind: 'host' });
  t.same(parseNetworks({ networks: ['container:c1'] }, what), { kind: 'container', ref: 'c1' });
  t.throws(() => parseNetworks({ networks: ['net1', 'host'] }, what), /cannot be combined/);
  t.throws(() => parseNetworks({ networks: ['net1', 'net1'] }, what), /given twice/);
  t.throws(() => parseNetworks({ networks: ['container:'] }, what), /needs a container/);
  t.throws(() => parseNetworks({ networks: ['none'], ip: '10.0.0.2' }, what), /need an overlay network/);
  t.throws(() => parseNetworks({ aliases: ['a'] }, what), /need an overlay network/);
});

t.test('-p: on an overlay network only, each host port once, values as parsePortSpec allows', async (t) => {
  const base = { image: 'busybox', networks: ['net1'] };
  const p = { hostPort: 8080, containerPort: 80, protocol: 'tcp' as const };
  t.same(checkRunRequest({ ...base, ports: [p, { ...p, protocol: 'udp' }] }, 'x', what), { kind: 'overlay', networks: ['net1'] });
  t.throws(() => checkRunRequest({ image: 'busybox', ports: [p] }, 'x', what), /^could not create container "x": -p needs an overlay network \(--net NET\)/);
  t.throws(() => checkRunRequest({ image: 'busybox', networks: ['host'], ports: [p] }, 'x', what), /-p needs an overlay network/);
  t.throws(() => checkRunRequest({ ...base, ports: [p, p] }, 'x', what), /host port 8080\/tcp is published twice/);
  t.throws(() => checkRunRequest({ ...base, ports: [{ ...p, hostIp: 'h1' }] }, 'x', what), /host IP "h1" is not an IPv4 address/);
  t.throws(() => checkRunRequest({ ...base, ports: [{ ...p, containerPort: 70000 }] }, 'x', what), /container port 70000 is out of range 1-65535/);
});

t.test('names follow docker; host names RFC 1123', async (t) => {
  t.equal(nameProblem('web-1.a_b'), undefined);
  t.match(nameProblem('-x'), /invalid container name/);
  t.match(nameProblem('a/b'), /invalid container name/);
  t.match(nameProblem('a'.repeat(65)), /at most 64/);
  t.equal(hostnameProblem('web.local'), undefined);
  t.match(hostnameProblem('web_1'), /invalid hostname/);
});

t.test('/etc files', async (t) => {
  const hosts = hostsFile([{ ip: '10.0.0.2', names: ['abc', 'web', 'www', 'web'] }]);
  t.match(hosts, /^127\.0\.0\.1\tlocalhost$/m);
  t.match(hosts, /^10\.0\.0\.2\tabc web www$/m, 'names deduplicated');
  t.equal(resolvConf({ nameserver: '10.0.0.1' }), 'nameserver 10.0.0.1\noptions ndots:0\n');
  t.notMatch(resolvConf({}), /nameserver/);
  t.equal(resolvConf({ hostResolvConf: 'nameserver 1.1.1.1\n' }), 'nameserver 1.1.1.1\n');
});
