import { readFileSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { isAlive, stopProcess } from '../src/process.js';
import { redisCli, spawnRedis, waitRedisReady } from '../src/redis-server.js';
import { freePort } from '../src/testing/etcd.js';
import { redisMissing } from '../src/testing/redis.js';

const missing = redisMissing();
if (missing !== undefined) {
  t.plan(0, `skipped: ${missing}`);
} else {
  t.test('the password stays out of the command line; the server is durable', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'vxnet-test-redis-server-'));
    t.teardown(() => rm(dir, { recursive: true, force: true }));
    const port = await freePort();
    const password = 'p4ss "with" \\ quotes';
    const proc = spawnRedis({ name: 'spawn-test', dataDir: join(dir, 'data'), bind: '127.0.0.1', port, logFile: join(dir, 'redis.log'), password });
    t.teardown(() => stopProcess(proc));
    await waitRedisReady(`redis://127.0.0.1:${port}`, { password, isAlive: () => isAlive(proc) });
    const cmdline = readFileSync(`/proc/${proc.pid}/cmdline`, 'utf8').split('\0').join(' ');
    t.notMatch(cmdline, /p4ss/, 'not in the command line');
    t.equal(statSync(join(dir, 'data', 'redis.conf')).mode & 0o777, 0o600, 'the config file holding it is 0600');
    t.match(await redisCli(['-p', String(port), 'PING']), /NOAUTH/, 'without the password: refused');
    const cfg = (args: string[]) => redisCli(['-p', String(port), 'CONFIG', 'GET', ...args], password);
    t.match(await cfg(['appendonly']), /appendonly\s+yes/, 'appendonly yes');
    t.match(await cfg(['appendfsync']), /appendfsync\s+always/, 'appendfsync always');
    t.match(await cfg(['protected-mode']), /protected-mode\s+yes/, 'protected mode stays on for loopback');
  });

  t.test('a non-loopback bind without a password is refused', async (t) => {
    t.throws(
      () => spawnRedis({ name: 'exposed', dataDir: '/nonexistent', bind: '10.99.0.1', port: 1, logFile: '/dev/null' }),
      { code: 'VXNET_INVALID_ARGUMENT', message: /without a password/ },
    );
  });

  t.test('waitRedisReady gives up on a process that exited', async (t) => {
    const port = await freePort();
    await t.rejects(waitRedisReady(`redis://127.0.0.1:${port}`, { timeoutMs: 2000, isAlive: () => false }), { code: 'VXNET_REDIS_START_FAILED' });
    await t.rejects(waitRedisReady(`redis://127.0.0.1:${port}`, { timeoutMs: 300 }), { code: 'VXNET_REDIS_START_FAILED', message: /no PONG after 300 ms/ });
  });
}
