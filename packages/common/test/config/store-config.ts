/**
 * The store settings every store-using daemon shares: one URL naming etcd or Redis,
 * refused with a reason when wrong; TLS files only with a TLS scheme; a password file
 * only for Redis; credentials never inside the URL.
 */
import t from 'tap';
import { STORE_CONFIG, loadConfig, parseStoreUrl } from '../../src/index.js';

t.test('store URLs name the store, its servers and TLS', async (t) => {
  t.same(parseStoreUrl('etcd://10.0.0.11:2379,10.0.0.12,etcd3.example:23790'), {
    kind: 'etcd', tls: false, endpoints: ['http://10.0.0.11:2379', 'http://10.0.0.12:2379', 'http://etcd3.example:23790'],
  }, 'etcd: every member, the port defaults to 2379');
  t.same(parseStoreUrl('etcds://10.0.0.11'), { kind: 'etcd', tls: true, endpoints: ['https://10.0.0.11:2379'] }, 'etcds: https');
  t.same(parseStoreUrl('redis://10.0.0.11'), { kind: 'redis', tls: false, url: 'redis://10.0.0.11:6379/0' }, 'redis: port 6379, database 0');
  t.same(parseStoreUrl('rediss://[2001:db8::1]:7000/3'), { kind: 'redis', tls: true, url: 'rediss://[2001:db8::1]:7000/3' });
  const refused: Array<[string, RegExp]> = [
    ['10.0.0.11:2379', /must look like etcd:\/\/HOST:PORT/],
    ['http://10.0.0.11:2379', /unknown scheme "http": use etcd, etcds, redis, rediss/],
    ['redis://:secret@10.0.0.11:6379', /carries credentials: give the password in storePasswordFile/],
    ['redis://a:6379,b:6379', /Redis takes exactly one/],
    ['redis://a:6379/16', /database "16": must be 0-15/],
    ['etcd://a:2379/v3', /etcd URLs are only HOST:PORT lists/],
    ['etcd://a:99999', /port 99999: must be 1-65535/],
    ['etcd://bad_host:2379', /bad host "bad_host:2379"/],
    ['etcd://', /bad host ""/],
  ];
  for (const [url, why] of refused) t.throws(() => parseStoreUrl(url), { code: 'VXNET_INVALID_ARGUMENT', message: why }, url);
});

t.test('the store block of a daemon config', async (t) => {
  const load = (argv: string[]) => {
    const r = loadConfig('test', STORE_CONFIG, argv, { env: {}, defaultFile: '/nonexistent/test.json' });
    if (r.action === 'help') throw new Error('unexpected --help');
    return r.config;
  };
  t.match(load([]), { store: 'etcd://127.0.0.1:2379', storePrefix: '/vxnet/', storeCa: null, storeCert: null, storeKey: null, storeUser: null, storePasswordFile: null }, 'defaults: the local etcd');
  t.match(load(['--store', 'etcd://192.0.2.1', '--store-user', 'vxnet', '--store-password-file', '/etc/vxnet/etcd.pass']), { storeUser: 'vxnet', storePasswordFile: '/etc/vxnet/etcd.pass' }, 'an etcd user and its password');
  t.throws(() => load(['--store', 'etcd://192.0.2.1', '--store-user', 'vxnet']), /storePasswordFile: is missing: storeUser is set, and an etcd user needs its password/);
  t.match(load(['--store', 'rediss://192.0.2.1:6379/0', '--store-ca', '/etc/vxnet/ca.pem', '--store-password-file', '/etc/vxnet/redis.pass']), {
    store: 'rediss://192.0.2.1:6379/0', storeCa: '/etc/vxnet/ca.pem', storePasswordFile: '/etc/vxnet/redis.pass',
  }, 'Redis over TLS with a password');
  // TLS files without TLS, a password for etcd: refused, every problem at once
  const err = (() => {
    try {
      load(['--store', 'etcd://192.0.2.1', '--store-cert', '/c.pem', '--store-password-file', '/p']);
    } catch (e) {
      return e as Error;
    }
    return undefined;
  })();
  t.match(err?.message, /storeCert: is a client certificate, used only over TLS: use an etcds:\/\/ or rediss:\/\/ store URL/);
  t.match(err?.message, /storePasswordFile: needs storeUser: etcd users have names/);
  t.throws(() => load(['--store', 'mysql://db']), /store: must be a store URL: store URL "mysql:\/\/db" has an unknown scheme "mysql"/);
  t.throws(() => load(['--store', 'etcds://192.0.2.1', '--store-ca', 'ca.pem']), /storeCa: must be an absolute path/);
});
