import t from 'tap';
import { fileURLToPath } from 'node:url';
import { runDaemonBin } from '@vxnet/common/testing';

const BIN = fileURLToPath(new URL('../../bin/vxnet-engine.js', import.meta.url));

t.test('vxnet-engine --print-config: defaults < file < environment < flags; imagesDir follows stateDir', async (t) => {
  const r = runDaemonBin(BIN, { host: 'h1', stateDir: '/srv/vxnet/engine', runc: '/usr/bin/runc' },
    ['--print-config', '--socket', '/run/vxnet-b/engine.sock', '--registry-ca-file', '/etc/vxnet/registry-ca.pem'],
    { VXNET_RUNC: '/usr/sbin/runc', VXNET_LOG_FILE: '/var/log/vxnet-engine.log', VXNET_INSECURE_REGISTRIES: '10.0.0.1:5000,reg.lab' });
  t.equal(r.code, 0, r.stderr);
  t.same(JSON.parse(r.stdout), {
    host: 'h1',
    stateDir: '/srv/vxnet/engine',
    imagesDir: '/srv/vxnet/engine/images',
    socket: '/run/vxnet-b/engine.sock',
    agentSocket: '/run/vxnet/agent.sock',
    runc: '/usr/sbin/runc',
    busybox: '/bin/busybox',
    metricsAddr: null,
    insecureRegistries: '10.0.0.1:5000,reg.lab',
    registryCaFile: '/etc/vxnet/registry-ca.pem',
    logLevel: 'info',
    logFile: '/var/log/vxnet-engine.log',
  });
});

t.test('vxnet-engine has no lab-only settings: a namespace prefix and stop-on-exit are refused', async (t) => {
  const r = runDaemonBin(BIN, { netnsPrefix: 'vx-' }, ['--print-config', '--stop-containers-on-exit', '--netns-prefix', 'x', '--state-dir', 'engine']);
  t.equal(r.code, 1);
  t.match(r.stderr, /^vxnet-engine: invalid engine configuration: /);
  t.match(r.stderr, 'unknown flag --stop-containers-on-exit');
  t.match(r.stderr, 'unknown flag --netns-prefix');
  t.match(r.stderr, 'unknown key "netnsPrefix"');
  t.match(r.stderr, 'stateDir: must be an absolute path, got "engine" (from --state-dir)');
  t.notMatch(r.stderr, /unexpected argument/, 'the value of an unknown flag is not reported again');
});

t.test('insecure registries must be host[:port] names; the registry CA an absolute path', async (t) => {
  const r = runDaemonBin(BIN, {}, ['--print-config', '--insecure-registries', 'http://10.0.0.1:5000', '--registry-ca-file', 'ca.pem']);
  t.equal(r.code, 1);
  t.match(r.stderr, /insecureRegistries.*must be a comma-separated list of host\[:port\]/);
  t.match(r.stderr, /registryCaFile/);
});
