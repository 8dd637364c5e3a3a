import t from 'tap';
import { fileURLToPath } from 'node:url';
import { runDaemonBin } from '@vxnet/common/testing';

const BIN = fileURLToPath(new URL('../../bin/vxnet-controller.js', import.meta.url));

t.test('vxnet-controller --print-config: defaults < file < environment < flags', async (t) => {
  const r = runDaemonBin(BIN, { listen: '0.0.0.0:7070', tlsCert: '/etc/vxnet/controller.crt', tlsKey: '/etc/vxnet/controller.key', store: 'etcd://192.0.2.1:2379,192.0.2.2:2379', logLevel: 'warn' },
    ['--print-config', '--underlay', '192.0.2.0/24', '--log-level', 'debug'], { VXNET_INSECURE: 'true', VXNET_DEFAULT_BLOCK_LENGTH: '20' });
  t.equal(r.code, 0, r.stderr);
  t.same(JSON.parse(r.stdout), {
    store: 'etcd://192.0.2.1:2379,192.0.2.2:2379',
    storePrefix: '/vxnet/',
    storeCa: null,
    storeCert: null,
    storeKey: null,
    storeUser: null,
    storePasswordFile: null,
    listen: '0.0.0.0:7070',
    uiListen: null,
    socket: '/run/vxnet/controller.sock',
    tokenFile: '/var/lib/vxnet/controller/token',
    insecure: true,
    tlsCert: '/etc/vxnet/controller.crt',
    tlsKey: '/etc/vxnet/controller.key',
    tlsClientCa: null,
    plaintext: false,
    defaultPool: '10.128.0.0/9',
    defaultBlockLength: 20,
    underlay: ['192.0.2.0/24'],
    excluded: [],
    logLevel: 'debug',
    logFile: null,
  });
});

t.test('vxnet-controller refuses a bad configuration with one line listing every problem', async (t) => {
  const r = runDaemonBin(BIN, { socket: null, listen: null, stopContainersOnExit: true }, ['--print-config', '--default-pool', '10.0.0.1/8', '--verbose']);
  t.equal(r.code, 1);
  t.equal(r.stdout, '', 'nothing printed');
  t.match(r.stderr, /^vxnet-controller: invalid controller configuration: /);
  t.match(r.stderr, 'unknown flag --verbose');
  t.match(r.stderr, 'unknown key "stopContainersOnExit"');
  t.match(r.stderr, 'socket: nothing to serve on');
  t.match(r.stderr, /defaultPool: must be an IPv4 CIDR: .*host bits are set/);
  t.equal(r.stderr.trim().split('\n').length, 1, 'one line, no stack trace');
});

t.test('vxnet-controller: TCP is HTTPS unless plaintext is asked for', async (t) => {
  const plain = runDaemonBin(BIN, { listen: '0.0.0.0:7070' }, ['--print-config']);
  t.equal(plain.code, 1, 'listen without tlsCert: refused');
  t.match(plain.stderr, /listen: is served over HTTPS only: set tlsCert and tlsKey .*or plaintext: true \(--plaintext\)/);
  const asked = runDaemonBin(BIN, { listen: '0.0.0.0:7070' }, ['--print-config', '--plaintext']);
  t.equal(asked.code, 0, `--plaintext: allowed: ${asked.stderr}`);
  const both = runDaemonBin(BIN, { listen: '0.0.0.0:7070', tlsCert: '/c.pem', tlsKey: '/k.pem', plaintext: true }, ['--print-config']);
  t.equal(both.code, 1);
  t.match(both.stderr, 'tlsCert: contradicts plaintext');
  const half = runDaemonBin(BIN, { listen: '0.0.0.0:7070', tlsCert: '/c.pem' }, ['--print-config']);
  t.equal(half.code, 1);
  t.match(half.stderr, 'tlsCert: needs tlsKey');
});

t.test('vxnet-controller: the topology page listener is HTTPS too, and a listener of its own', async (t) => {
  const plain = runDaemonBin(BIN, { uiListen: '127.0.0.1:7071' }, ['--print-config']);
  t.equal(plain.code, 1, 'uiListen without tlsCert: refused');
  t.match(plain.stderr, /uiListen: is served over HTTPS only/);
  const same = runDaemonBin(BIN, { listen: '127.0.0.1:7070', uiListen: '127.0.0.1:7070', tlsCert: '/c.pem', tlsKey: '/k.pem' }, ['--print-config']);
  t.equal(same.code, 1);
  t.match(same.stderr, 'uiListen: must differ from listen');
  const ok = runDaemonBin(BIN, { socket: null, uiListen: '127.0.0.1:7071', tlsCert: '/c.pem', tlsKey: '/k.pem' }, ['--print-config']);
  t.equal(ok.code, 0, `the page alone is something to serve: ${ok.stderr}`);
  t.equal(JSON.parse(ok.stdout).uiListen, '127.0.0.1:7071');
});
