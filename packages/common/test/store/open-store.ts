/**
 * openStore as the daemons call it: a store URL plus certificate and password files.
 * etcd with user authentication enabled and Redis with a password, both real; the
 * password comes from a file, never from the URL; an unreadable or empty file stops
 * the start instead of being read as "no password".
 */
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStore, type StoreSettings } from '../../src/index.js';
import { etcdMissing, startTestEtcd } from '../../src/testing/etcd.js';
import { redisMissing, startTestRedis } from '../../src/testing/redis.js';

const dir = mkdtempSync(join(tmpdir(), 'vxnet-open-store-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const secretFile = (name: string, content: string): string => {
  const f = join(dir, name);
  writeFileSync(f, content, { mode: 0o600 });
  return f;
};
const settings = (store: string, more: Partial<StoreSettings> = {}): StoreSettings => ({
  store, storeCa: null, storeCert: null, storeKey: null, storeUser: null, storePasswordFile: null, ...more,
});

t.test('etcd with user authentication', { skip: etcdMissing() ?? false }, async (t) => {
  const etcd = await startTestEtcd('vxnet-open-store');
  t.teardown(() => etcd.destroy());
  const ctl = (...args: string[]) => execFileSync('etcdctl', ['--endpoints', etcd.endpoint, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  ctl('user', 'add', 'root:root-pw-1');
  ctl('user', 'add', 'vxnet:vxnet-pw-1');
  ctl('role', 'add', 'vxnet');
  ctl('role', 'grant-permission', 'vxnet', '--prefix=true', 'readwrite', '/vxnet-test/');
  ctl('user', 'grant-role', 'vxnet', 'vxnet');
  ctl('auth', 'enable');

  const store = await openStore(settings(etcd.storeUrl, { storeUser: 'vxnet', storePasswordFile: secretFile('etcd-pw', 'vxnet-pw-1\n') }));
  t.teardown(() => store.close());
  const rev = await store.put('/vxnet-test/auth', 'ok');
  t.ok(rev > 0, 'the user and the password from the file (trailing newline trimmed) work');
  t.equal((await store.get('/vxnet-test/auth'))?.value, 'ok');

  const anonymous = await openStore(settings(etcd.storeUrl));
  t.teardown(() => anonymous.close());
  await t.rejects(anonymous.get('/vxnet-test/auth'), /user name is empty|permission denied|authentication/i, 'no user: refused by etcd, saying why');
  const wrong = await openStore(settings(etcd.storeUrl, { storeUser: 'vxnet', storePasswordFile: secretFile('etcd-wrong', 'nope') }));
  t.teardown(() => wrong.close());
  await t.rejects(wrong.get('/vxnet-test/auth'), /authentication failed|invalid user ID or password/i, 'a wrong password: refused, saying why');
});

t.test('Redis with a password from a file', { skip: redisMissing() ?? false }, async (t) => {
  const redis = await startTestRedis('vxnet-open-store', { password: 'redis-pw-1' });
  t.teardown(() => redis.destroy());
  const store = await openStore(settings(redis.url, { storePasswordFile: secretFile('redis-pw', 'redis-pw-1\n') }));
  t.teardown(() => store.close());
  t.ok((await store.put('/vxnet-test/auth', 'ok')) > 0, 'the password from the file works');
});

t.test('an unreadable or empty password file stops the start', async (t) => {
  const missing = join(dir, 'nope');
  await t.rejects(openStore(settings('redis://127.0.0.1:6379/0', { storePasswordFile: missing })), {
    code: 'VXNET_CONFIG_INVALID', message: new RegExp(`storePasswordFile ${missing} cannot be read: ENOENT`),
  });
  const empty = secretFile('empty', '\n');
  await t.rejects(openStore(settings('redis://127.0.0.1:6379/0', { storePasswordFile: empty })), { code: 'VXNET_CONFIG_INVALID', message: /is empty/ });
  await t.rejects(openStore(settings('etcds://127.0.0.1:2379', { storeCa: join(dir, 'no-ca.pem') })), { code: 'VXNET_CONFIG_INVALID', message: /storeCa .*no-ca\.pem cannot be read: ENOENT/ });
});
