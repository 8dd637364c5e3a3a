/**
 * Crash consistency: every published endpoint has an owner that exists. The agent of
 * h1 is SIGKILLed at a random moment of 20 concurrent `run`s and started again; once
 * both daemons have reconciled, the store holds an endpoint exactly for each container
 * that runs (nothing a container on another host could resolve as a ghost), a failed
 * run's name does not resolve from h2, and `net rm` works as soon as the containers
 * are gone (Docker's moby#17217, by another road).
 *
 * Rounds: VXNET_GHOST_ROUNDS (default 3 in the suite; the acceptance run is 20).
 */
import t from 'tap';
import { isRoot, setupFailure, tempHome, uniqueLabName, vxnet } from './helpers/cli.js';
import { until } from './helpers/wait.js';

interface ContainerJson {
  name: string;
  status: string;
  networks: Array<{ endpointId: string }>;
}
interface NetworkDetailJson {
  hosts: Array<{ host: string; endpoints: Array<{ id: string; name: string; container: string }> }>;
}

const ROUNDS = Number(process.env.VXNET_GHOST_ROUNDS ?? 3);
const RUNS = 20;

if (!isRoot) {
  t.plan(0, 'skip: needs root (namespaces, runc)');
} else {
  const { home, cleanup } = tempHome('ghost');
  const env = { VXNET_HOME: home };
  const lab = uniqueLabName('gh');
  t.teardown(async () => {
    await vxnet(['lab', 'down', '--name', lab], env);
    cleanup();
  });
  const setupFailed = setupFailure(lab, env, cleanup);
  const up = await vxnet(['lab', 'up', '--name', lab, '--hosts', '2', '--underlay', '198.51.100.0/24'], env);
  if (up.code !== 0) await setupFailed(new Error(`lab up failed: ${up.stderr}`));
  const created = await vxnet(['net', 'create', 'g1'], env);
  if (created.code !== 0) await setupFailed(new Error(`net create: ${created.stderr}`));
  const probe = await vxnet(['-H', 'h2', 'run', '-d', '--name', 'probe', '--net', 'g1', 'busybox'], env);
  if (probe.code !== 0) await setupFailed(new Error(`run probe: ${probe.stderr}`));

  const on = (h: string, args: string[], timeoutMs?: number) => vxnet(['-H', h, ...args], env, timeoutMs);
  const containers = async (h: string): Promise<ContainerJson[]> => {
    const r = await on(h, ['ps', '-a', '--json']);
    if (r.code !== 0) throw new Error(`ps on ${h}: ${r.stderr}`);
    return JSON.parse(r.stdout) as ContainerJson[];
  };
  /** Endpoint ids the store publishes for host h on g1. */
  const published = async (h: string): Promise<string[]> => {
    const r = await vxnet(['net', 'inspect', '--json', 'g1'], env);
    if (r.code !== 0) throw new Error(`net inspect: ${r.stderr}`);
    const d = JSON.parse(r.stdout) as NetworkDetailJson;
    return (d.hosts.find((x) => x.host === h)?.endpoints ?? []).map((e) => e.id).sort();
  };
  /** Endpoint ids of the containers h1's engine has (running or not: a stopped container keeps its endpoints). */
  const owned = async (h: string): Promise<string[]> => (await containers(h)).flatMap((c) => c.networks.map((n) => n.endpointId)).sort();

  for (let round = 1; round <= ROUNDS; round++) {
    t.test(`round ${round}: agent SIGKILLed during ${RUNS} concurrent runs leaves no ghost`, async (t) => {
      const names = Array.from({ length: RUNS }, (_, i) => `r${round}-${i}`);
      const runs = Promise.all(names.map((n) => on('h1', ['run', '-d', '--name', n, '--net', 'g1', 'busybox'], 120_000)));
      const delay = Math.floor(Math.random() * 2500);
      await new Promise((r) => setTimeout(r, delay));
      const kill = await vxnet(['lab', 'kill', 'h1', 'agent', '--signal', 'KILL'], env);
      t.equal(kill.code, 0, `agent killed after ${delay} ms: ${kill.stderr}`);
      const restart = await vxnet(['lab', 'restart', 'h1', 'agent'], env);
      t.equal(restart.code, 0, `agent restarted: ${restart.stderr}`);
      const results = await runs;
      const failed = names.filter((_, i) => results[i]!.code !== 0);
      t.comment(`killed at ${delay} ms: ${RUNS - failed.length} runs succeeded, ${failed.length} failed`);

      const match = await until(async () => {
        const [pub, own] = await Promise.all([published('h1'), owned('h1')]);
        return JSON.stringify(pub) === JSON.stringify(own) ? pub : undefined;
      }, 30_000, 250);
      t.ok(match.value, `the store publishes exactly the endpoints of h1's containers (after ${match.ms} ms)`);
      const have = new Set((await containers('h1')).map((c) => c.name));
      for (const n of failed.slice(0, 3)) {
        t.notOk(have.has(n), `failed run ${n} left no container`);
        const look = await on('h2', ['exec', 'probe', 'nslookup', n]);
        t.not(look.code, 0, `${n} does not resolve from h2`);
      }
      for (const n of names.filter((x) => have.has(x))) {
        const rm = await on('h1', ['rm', '-f', n]);
        t.equal(rm.code, 0, `rm -f ${n}: ${rm.stderr}`);
      }
      const empty = await until(async () => (await published('h1')).length === 0, 15_000, 250);
      t.ok(empty.value, 'no endpoint of h1 left once its containers are gone');
    });
  }

  t.test('net rm works once the containers are gone', async (t) => {
    t.equal((await on('h2', ['rm', '-f', 'probe'])).code, 0);
    const rm = await vxnet(['net', 'rm', 'g1'], env);
    t.equal(rm.code, 0, `net rm without -f: ${rm.stderr}`);
  });
}
