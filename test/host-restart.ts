/**
 * Agent and engine with their default configuration on a real (namespace) host: the
 * lab runs every daemon as a real host does (`--config` with only the store, and no
 * namespace prefix or other lab-only setting), each host a machine with its own
 * /run/netns, /run/vxnet and /var/lib/vxnet. Containers on two hosts; the agent
 * restarted with SIGTERM, then killed with SIGKILL and started again; the engine
 * restarted: every sandbox, veth and container survives and still pings by name, and
 * a foreign namespace named like ours is never touched.
 */
import t, { type Test } from 'tap';
import { readFileSync } from 'node:fs';
import { isRoot, setupFailure, tempHome, uniqueLabName, vxnet } from './helpers/cli.js';
import { hostNetns, labHost, linksIn, onHost, readLab, type HostJson } from './helpers/lab.js';
import { until } from './helpers/wait.js';

interface ContainerJson {
  id: string;
  name: string;
  status: string;
  pid: number | null;
}

if (!isRoot) {
  t.plan(0, 'skip: needs root (namespaces, runc)');
} else {
  const { home, cleanup } = tempHome('hostrestart');
  const env = { VXNET_HOME: home };
  const lab = uniqueLabName('hr');
  t.teardown(async () => {
    await vxnet(['lab', 'down', '--name', lab], env);
    cleanup();
  });
  const setupFailed = setupFailure(lab, env, cleanup);
  const up = await vxnet(['lab', 'up', '--name', lab, '--hosts', '2', '--underlay', '203.0.113.0/24'], env);
  if (up.code !== 0) await setupFailed(new Error(`lab up failed: ${up.stderr}`));
  const created = await vxnet(['net', 'create', 'net1'], env);
  if (created.code !== 0) await setupFailed(new Error(`net create: ${created.stderr}`));

  const state = () => readLab(home, lab);
  const host = (h: string): HostJson => labHost(state(), h);
  const on = (h: string, args: string[]) => vxnet(['-H', h, ...args], env);
  const ps = async (h: string): Promise<ContainerJson[]> => JSON.parse((await on(h, ['ps', '-a', '--json'])).stdout) as ContainerJson[];

  /** Everything of a host that must survive: its namespaces, the links in the agent's network namespaces, its containers and their pids. */
  const footprint = async (h: string) => {
    const hj = host(h);
    const netns = hostNetns(hj);
    const links = Object.fromEntries(netns.filter((n) => !n.startsWith('vxnet-s-') && n.startsWith('vxnet-')).map((n) => [n, linksIn(hj, n)]));
    const containers = (await ps(h)).map((c) => `${c.name} ${c.status} ${c.pid}`).sort();
    return { netns, links, containers };
  };
  const pingsByName = async (t: Test) => {
    for (const [h, c, target] of [['h1', 'a1', 'b1'], ['h2', 'b1', 'a1'], ['h1', 'a2', 'b1']] as const) {
      const ok = await until(async () => (await on(h, ['exec', c, 'ping', '-c1', '-W1', target])).code === 0, 8000, 200);
      t.ok(ok.value, `${c} (${h}) pings ${target} by name`);
    }
  };

  t.test('the lab starts each daemon with --config and default settings only', async (t) => {
    const s = state();
    for (const h of s.hosts) {
      // the store's TLS files are site settings too: each host has its own client certificate
      const agentConfig = JSON.parse(readFileSync(h.agent.config, 'utf8')) as Record<string, string>;
      // metricsAddr too: the lab's Prometheus scrapes each host on its underlay address
      t.same(Object.keys(agentConfig).sort(), ['dnsUpstreams', 'metricsAddr', 'store', 'storeCa', 'storeCert', 'storeKey'], `${h.name}: agent config holds only site settings`);
      t.match(agentConfig.storeCert, new RegExp(`/pki/${h.name}-client\\.crt$`), `${h.name}: its own client certificate`);
      t.same(Object.keys(JSON.parse(readFileSync(h.engine.config, 'utf8')) as object), ['metricsAddr'], `${h.name}: engine config holds only its metrics address (all else defaults)`);
      for (const d of [h.agent, h.engine]) {
        const cmdline = readFileSync(`/proc/${d.process!.pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
        t.same(cmdline.slice(-2), ['--config', d.config], `${h.name}: started with --config FILE and nothing after`);
        // the bin file itself, as a systemd unit runs it: `env -S` hands its #! line to node
        t.match(cmdline[0] ?? '', /(^|\/)node$/, `${h.name}: node runs it`);
        t.match(cmdline.at(-3) ?? '', /\/bin\/vxnet-(agent|engine)\.js$/, `${h.name}: its bin file`);
      }
      t.equal(onHost(h, ['hostname']).trim(), h.name, 'the machine has the host name the daemons default to');
    }
  });

  t.test('containers on two hosts survive agent SIGTERM, agent SIGKILL and engine restarts', async (t) => {
    for (const [h, name] of [['h1', 'a1'], ['h1', 'a2'], ['h2', 'b1']] as const) {
      const r = await on(h, ['run', '-d', '--name', name, '--net', 'net1', 'busybox']);
      t.equal(r.code, 0, `run ${name} on ${h}: ${r.stderr}`);
    }
    // a foreign namespace with our prefix: neither daemon may touch it
    onHost(host('h1'), ['ip', 'netns', 'add', 'vxnet-foreign']);
    await pingsByName(t);
    const before = { h1: await footprint('h1'), h2: await footprint('h2') };
    t.ok(before.h1.netns.includes('vxnet-foreign'));
    t.equal(before.h1.netns.filter((n) => n.startsWith('vxnet-s-')).length, 2, 'two sandboxes on h1');
    t.equal(before.h1.containers.length, 2);

    const steps: Array<[string, string[]]> = [
      ['agent SIGTERM + start', ['lab', 'restart', 'h1', 'agent']],
      ['agent SIGKILL + start', ['lab', 'kill', 'h1', 'agent', '--signal', 'KILL']],
      ['engine restart', ['lab', 'restart', 'h1', 'engine']],
      ['h2 agent SIGKILL + start', ['lab', 'kill', 'h2', 'agent', '--signal', 'KILL']],
    ];
    for (const [what, args] of steps) {
      const r = await vxnet(args, env);
      t.equal(r.code, 0, `${what}: ${args.join(' ')} ${r.stderr}`);
      if (args[1] === 'kill') {
        const again = await vxnet(['lab', 'restart', args[2]!, 'agent'], env);
        t.equal(again.code, 0, `${what}: restart ${again.stderr}`);
      }
      t.same(await footprint('h1'), before.h1, `${what}: h1 keeps every namespace, veth and container (same pids)`);
      t.same(await footprint('h2'), before.h2, `${what}: h2 unchanged`);
      await pingsByName(t);
    }
  });
}
