/**
 * The mission, once per store: a 3-host lab on etcd and one on Redis, each doing what
 * a user does first (net create, run on two hosts, ping by name across hosts, lease
 * ls), then a restart of the store (the daemons reconnect and miss no change: a
 * container started after it is found by name across hosts), then losing a host: when
 * h1's agent and engine die without a word (SIGKILL),
 * its names stop resolving on the other hosts within the liveness TTL, and its host
 * record goes with it.
 */
import t, { type Test } from 'tap';
import { isRoot, setupFailure, tempHome, uniqueLabName, vxnet } from './helpers/cli.js';
import { until } from './helpers/wait.js';

/** The agents' default liveness TTL, seconds (agent config `livenessTtl`). */
const LIVENESS_TTL_S = 10;

async function mission(t: Test, store: 'etcd' | 'redis'): Promise<void> {
  const { home, cleanup } = tempHome(`mission-${store}`);
  const env = { VXNET_HOME: home };
  const lab = uniqueLabName(`m${store[0]}`);
  const ok = async (args: string[]) => {
    const r = await vxnet(args, env);
    if (r.code !== 0) throw new Error(`vxnet ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
    return r.stdout;
  };
  const up = await vxnet(['lab', 'up', '--name', lab, '--hosts', '3', '--underlay', '192.0.2.0/24', '--store', store], env);
  if (up.code !== 0) await setupFailure(lab, env, cleanup)(new Error(`lab up --store ${store} failed: ${up.stderr}`));
  t.teardown(async () => {
    await vxnet(['lab', 'down', '--name', lab], env);
    cleanup();
  });

  const status = JSON.parse(await ok(['lab', 'status', '--json']));
  t.equal(status.store.kind, store, `lab status shows the store: ${store}`);
  // over TLS with client certificates (the lab's default), etcd and Redis alike
  t.match(status.store.url, store === 'etcd' ? /^etcds:\/\/192\.0\.2\.254:2379$/ : /^rediss:\/\/192\.0\.2\.254:6379\/0$/);
  if (store === 'redis') {
    // Redis serves TLS only, and only to clients with a certificate of the lab's CA (issue 13)
    const redisCli = async (...args: string[]) => {
      const r = await vxnet(['lab', 'exec', 'h1', '--', 'redis-cli', '--no-auth-warning', '-h', '192.0.2.254', '-p', '6379', ...args, 'PING'], env);
      return `${r.stdout}${r.stderr}`;
    };
    t.notMatch(await redisCli(), /PONG|NOAUTH/, 'plain-text Redis: no answer');
    t.notMatch(await redisCli('--tls', '--cacert', status.tls.ca), /PONG|NOAUTH/, 'TLS without a client certificate: no answer');
    t.match(await redisCli('--tls', '--cacert', status.tls.ca, '--cert', status.tls.cert, '--key', status.tls.key), /NOAUTH/, 'TLS with the lab\'s certificate: Redis answers (and wants the password)');
  }
  t.match(await ok(['lab', 'status']), new RegExp(`^${store}\\s+${status.store.url.replace(/[/.]/g, '\\$&')}\\s+\\d+\\s+running$`, 'm'), 'and in its table');

  await ok(['net', 'create', '-d', 'overlay', 'net1']);
  await ok(['-H', 'h1', 'run', '-d', '--name', 'web', '--net', 'net1', 'busybox']);
  await ok(['-H', 'h2', 'run', '-d', '--name', 'app', '--net', 'net1', 'busybox']);
  const ping = await vxnet(['-H', 'h2', 'exec', 'app', 'ping', '-c1', '-W2', 'web'], env);
  t.equal(ping.code, 0, `app on h2 pings web on h1 by name: ${ping.stdout.trim().split('\n')[1] ?? ping.stderr}`);

  const leases = JSON.parse(await ok(['lease', 'ls', '--json'])) as Array<{ network: string; subnet: string; host: string; remainingSeconds: number }>;
  t.same(leases.map((l) => [l.network, l.host]).sort(), [['net1', 'h1'], ['net1', 'h2']], 'lease ls: one lease per host with a container on net1');
  t.equal(new Set(leases.map((l) => l.subnet)).size, 2, 'distinct subnets');
  t.match(await ok(['lease', 'ls']), /NETWORK\s+SUBNET\s+HOST/, 'and a table for people');

  // the store restarts (its data kept): watches resume, new names reach every host
  await ok(['lab', 'restart', 'store']);
  await ok(['-H', 'h3', 'run', '-d', '--name', 'db', '--net', 'net1', 'busybox']);
  const afterRestart = await until(async () => (await vxnet(['-H', 'h2', 'exec', 'app', 'ping', '-c1', '-W1', 'db'], env)).code === 0, 10_000, 100);
  t.ok(afterRestart.value, `after a store restart, app on h2 pings db, started on h3 after it, by name (${afterRestart.ms} ms)`);

  // h1 dies without a word: nothing revokes its liveness lease
  await ok(['lab', 'kill', 'h1', 'engine', '--signal', 'KILL']);
  await ok(['lab', 'kill', 'h1', 'agent', '--signal', 'KILL']);
  const killedAt = Date.now();
  const resolves = async () => (await vxnet(['-H', 'h2', 'exec', 'app', 'nslookup', 'web'], env)).code === 0;
  t.ok(await resolves(), 'right after the kill, web still resolves (its host is alive until its TTL runs out)');
  const stopped = await until(async () => !(await resolves()), (LIVENESS_TTL_S + 5) * 1000, 200);
  t.ok(stopped.value, `web stops resolving on h2 after h1 died (${store})`);
  const gone = Date.now() - killedAt;
  t.comment(`${store}: web stopped resolving ${gone} ms after h1 was killed (liveness TTL ${LIVENESS_TTL_S} s)`);
  t.ok(gone <= (LIVENESS_TTL_S + 2) * 1000, `gone within the liveness TTL (+2 s for the lookup and the poll): ${gone} ms`);
  const hosts = JSON.parse(await ok(['host', 'ls', '--json'])) as Array<{ name: string; state: string }>;
  t.notOk(hosts.some((h) => h.name === 'h1' && h.state === 'alive'), 'host ls no longer shows h1 alive');
  t.ok(hosts.some((h) => h.name === 'h2' && h.state === 'alive'), 'h2 is still alive');
}

if (!isRoot) {
  t.plan(0, 'skip: the lab needs root (namespaces)');
} else {
  t.test('the mission on etcd', (t) => mission(t, 'etcd'));
  t.test('the mission on Redis', (t) => mission(t, 'redis'));
}
