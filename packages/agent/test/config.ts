import t from 'tap';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '@vxnet/common';
import { runDaemonBin } from '@vxnet/common/testing';
import { AGENT_CONFIG } from '../src/config.js';
import { defaultDnsThreads } from '../src/dns/dns-server.js';

const BIN = fileURLToPath(new URL('../../bin/vxnet-agent.js', import.meta.url));

t.test('vxnet-agent --print-config: defaults < file < environment < flags', async (t) => {
  const r = runDaemonBin(BIN, { host: 'h1', store: 'etcd://192.0.2.1:2379', livenessTtl: 20, dnsUpstreams: [] },
    ['--print-config', '--underlay-ip', '192.0.2.10', '--underlay-interface', 'eth9', '--liveness-ttl', '30'], { VXNET_LIVENESS_TTL: '25', VXNET_STATE_DIR: '/srv/vxnet/agent' });
  t.equal(r.code, 0, r.stderr);
  t.same(JSON.parse(r.stdout), {
    host: 'h1',
    store: 'etcd://192.0.2.1:2379',
    storePrefix: '/vxnet/',
    storeCa: null,
    storeCert: null,
    storeKey: null,
    storeUser: null,
    storePasswordFile: null,
    underlayIp: '192.0.2.10',
    underlayInterface: 'eth9',
    livenessTtl: 30,
    subnetLeaseTtl: 86400,
    renewMargin: 3600,
    stateDir: '/srv/vxnet/agent',
    socket: '/run/vxnet/agent.sock',
    dnsUpstreams: [],
    dnsThreads: defaultDnsThreads(),
    dockerPluginSocket: '/run/docker/plugins/vxnet.sock',
    dockerSocket: '/run/docker.sock',
    wireguardInterface: 'vxwg0',
    wireguardPool: '100.127.0.0/16',
    metricsAddr: null,
    logLevel: 'info',
    logFile: null,
  }, 'an explicit empty dnsUpstreams stays empty (no upstream)');
});

t.test('--dns-threads: 1 to 16, default by CPU count', async (t) => {
  const load = (argv: string[]) => loadConfig('agent', AGENT_CONFIG, ['--host', 'h1', '--underlay-ip', '127.0.0.1', ...argv], { env: {}, defaultFile: '/nonexistent/agent.json' });
  t.match(load([]), { config: { dnsThreads: defaultDnsThreads() } });
  t.match(load(['--dns-threads', '4']), { config: { dnsThreads: 4 } });
  t.throws(() => load(['--dns-threads', '0']), /dnsThreads: must be 1 to 16/);
});

t.test('--metrics-addr: off by default, HOST:PORT when given, refused otherwise', async (t) => {
  const load = (argv: string[]) => loadConfig('agent', AGENT_CONFIG, ['--host', 'h1', '--underlay-ip', '127.0.0.1', ...argv], { env: {}, defaultFile: '/nonexistent/agent.json' });
  t.match(load([]), { config: { metricsAddr: null } });
  t.match(load(['--metrics-addr', '127.0.0.1:9650']), { config: { metricsAddr: '127.0.0.1:9650' } });
  t.throws(() => load(['--metrics-addr', '9650']), /metricsAddr: must be HOST:PORT/);
  t.throws(() => load(['--metrics-addr', '127.0.0.1:0']), /metricsAddr: must end in a port from 1 to 65535/);
});

t.test('vxnet-agent: --dns-upstream is a setting like the others; a namespace prefix is not', async (t) => {
  const ok = runDaemonBin(BIN, { host: 'h1', underlayIp: '192.0.2.10', underlayInterface: 'eth9' }, ['--print-config', '--dns-upstream', '192.0.2.53, [2001:db8::53]:5353']);
  t.equal(ok.code, 0, ok.stderr);
  t.same(JSON.parse(ok.stdout).dnsUpstreams, ['192.0.2.53', '[2001:db8::53]:5353']);
  const bad = runDaemonBin(BIN, { host: 'h1', underlayIp: '192.0.2.10', underlayInterface: 'eth9', netnsPrefix: 'vx-' },
    ['--print-config', '--dns-upstream', 'dns.example,192.0.2.1:0', '--netns-prefix', 'vx-', '--renew-margin', '90000']);
  t.equal(bad.code, 1);
  t.match(bad.stderr, /^vxnet-agent: invalid agent configuration: /);
  t.match(bad.stderr, 'dnsUpstreams: must be IP[:port] entries (bad: "dns.example", "192.0.2.1:0")');
  t.match(bad.stderr, 'unknown flag --netns-prefix');
  t.match(bad.stderr, 'unknown key "netnsPrefix"');
  t.match(bad.stderr, 'renewMargin: must be at least 1 second and less than subnetLeaseTtl (86400), got 90000 (from --renew-margin)');
});

t.test('the underlay interface defaults to the one holding underlayIp', async (t) => {
  const load = (argv: string[]) => loadConfig('agent', AGENT_CONFIG, ['--host', 'h1', ...argv], { env: {}, defaultFile: '/nonexistent/agent.json' });
  t.match(load(['--underlay-ip', '127.0.0.1']), { config: { underlayIp: '127.0.0.1', underlayInterface: 'lo' } });
  // 198.18.0.0/15 (benchmarking, RFC 2544): on no interface of a test machine
  t.throws(() => load(['--underlay-ip', '198.18.255.254']), /underlayInterface: must name the underlay interface \(no interface holds underlayIp: set it\), got "" \(from the default\)/);
});

t.test('the Docker plugin and the dockerd socket: paths, or off with "" / null', async (t) => {
  const load = (argv: string[], env: NodeJS.ProcessEnv = {}) => loadConfig('agent', AGENT_CONFIG, ['--host', 'h1', '--underlay-ip', '127.0.0.1', ...argv], { env, defaultFile: '/nonexistent/agent.json' });
  t.match(load([]), { config: { dockerPluginSocket: '/run/docker/plugins/vxnet.sock', dockerSocket: '/run/docker.sock' } });
  t.match(load(['--docker-plugin-socket', '', '--docker-socket', '/srv/h1/docker.sock']), { config: { dockerPluginSocket: null, dockerSocket: '/srv/h1/docker.sock' } });
  t.match(load([], { VXNET_DOCKER_SOCKET: '', VXNET_DOCKER_PLUGIN_SOCKET: '/srv/h1/plugins/vxnet.sock' }), { config: { dockerPluginSocket: '/srv/h1/plugins/vxnet.sock', dockerSocket: null } });
  t.throws(() => load(['--docker-plugin-socket', 'relative.sock']), /dockerPluginSocket: must be an absolute path/);
});
