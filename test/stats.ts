/**
 * `vxnet stats` and `vxnet top` as docker's, on a real one-host lab (runc, cgroups,
 * an overlay network): memory rises when a container fills a tmpfs, CPU % when it
 * spins, network bytes while it floods a peer with pings (a peer container on the
 * lab's own network: no traffic leaves the test's namespaces), streaming prints a row
 * set per second, and `top` lists a process started by `exec` until that exec ends.
 */
import t from 'tap';
import { spawn, type ChildProcess } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { isRoot, setupFailure, tempHome, uniqueLabName, VXNET_BIN, vxnet } from './helpers/cli.js';
import { until } from './helpers/wait.js';

interface Row {
  id: string;
  name: string;
  running: boolean;
  cpuPercent: number;
  memory: { usage: number; limit: number; percent: number };
  net: { rxBytes: number; txBytes: number };
  pids: number;
  networks: Record<string, { rxBytes: number; txBytes: number }>;
}

interface Proc {
  pid: number;
  ppid: number;
  user: string;
  cmd: string;
}

const MiB = 1024 * 1024;

if (!isRoot) {
  t.plan(0, 'skip: stats tests need root (namespaces, runc, cgroups)');
} else {
  const { home, cleanup } = tempHome('stats');
  const env = { VXNET_HOME: home };
  const lab = uniqueLabName('st');
  /** CLIs this file started and has not seen end: killed by pid at teardown. */
  const children = new Set<ChildProcess>();
  t.teardown(async () => {
    for (const c of children) c.kill('SIGKILL');
    await vxnet(['lab', 'down', '--name', lab], env);
    cleanup();
  });
  const up = await vxnet(['lab', 'up', '--name', lab, '--hosts', '1', '--underlay', '203.0.113.0/24'], env);
  const setupFailed = setupFailure(lab, env, cleanup);
  if (up.code !== 0) await setupFailed(new Error(`lab up failed: ${up.stderr}`));
  const ok = async (args: string[]) => {
    const r = await vxnet(['-H', 'h1', ...args], env);
    if (r.code !== 0) await setupFailed(new Error(`${args.join(' ')}: ${r.stderr}`));
    return r.stdout;
  };
  await ok(['net', 'create', 'net1']);
  await ok(['run', '-d', '--name', 'a', '--net', 'net1', 'busybox']);
  await ok(['run', '-d', '--name', 'b', '--net', 'net1', 'busybox']);
  const ipB = (JSON.parse(await ok(['inspect', '--json', 'b'])) as { networks: Array<{ ip: string }> }).networks[0]!.ip;

  const stats = async (...refs: string[]): Promise<Row[]> => {
    const r = await vxnet(['-H', 'h1', 'stats', '--no-stream', '--json', ...refs], env);
    if (r.code !== 0) throw new Error(`stats: ${r.stderr}`);
    return JSON.parse(r.stdout) as Row[];
  };
  const one = async (name: string): Promise<Row> => {
    const row = (await stats(name))[0];
    if (!row) throw new Error(`stats ${name}: no row`);
    return row;
  };
  const top = async (name: string): Promise<Proc[]> => {
    const r = await vxnet(['-H', 'h1', 'top', '--json', name], env);
    if (r.code !== 0) throw new Error(`top: ${r.stderr}`);
    return (JSON.parse(r.stdout) as { processes: Proc[] }).processes;
  };
  /** A CLI left running (an exec, a streaming stats); its stdout collected. */
  const background = (args: string[]): { child: ChildProcess; out: () => string; ended: Promise<number | null> } => {
    const child = spawn(process.execPath, [VXNET_BIN, '-H', 'h1', ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(child);
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    const ended = new Promise<number | null>((resolve) => child.on('close', (code) => {
      children.delete(child);
      resolve(code);
    }));
    return { child, out: () => out, ended };
  };

  t.test('stats --no-stream: docker\'s columns, one row per running container; --json the same numbers', async (t) => {
    const r = await vxnet(['-H', 'h1', 'stats', '--no-stream'], env);
    t.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split('\n');
    t.match(lines[0], /^CONTAINER ID\s+NAME\s+CPU %\s+MEM USAGE \/ LIMIT\s+MEM %\s+NET I\/O\s+PIDS$/);
    t.equal(lines.length, 3, 'a and b');
    t.match(r.stdout, /\s+a\s+\d+\.\d\d%\s+[\d.]+[KMG]?i?B \/ [\d.]+[KMG]iB\s+\d+\.\d\d%\s+[\d.]+[kMG]?B \/ [\d.]+[kMG]?B\s+\d+\n/);
    const rows = await stats();
    t.same(rows.map((x) => x.name).sort(), ['a', 'b']);
    const a = rows.find((x) => x.name === 'a')!;
    t.ok(a.running);
    t.ok(a.memory.usage > 0 && a.memory.usage < a.memory.limit, `memory ${a.memory.usage} of ${a.memory.limit}`);
    t.ok(a.pids >= 1, `pids ${a.pids}`);
    t.same(Object.keys(a.networks), ['eth0'], 'its one interface, no loopback');
  });

  t.test('memory rises when a container allocates', async (t) => {
    const before = await one('a');
    // tmpfs pages are charged to the writer's cgroup and are not page cache the kernel drops first
    const fill = await vxnet(['-H', 'h1', 'exec', 'a', 'dd', 'if=/dev/zero', 'of=/dev/shm/fill', 'bs=1M', 'count=32'], env);
    t.equal(fill.code, 0, fill.stderr);
    const after = await one('a');
    t.ok(after.memory.usage - before.memory.usage >= 24 * MiB, `usage ${before.memory.usage} -> ${after.memory.usage}`);
    await vxnet(['-H', 'h1', 'exec', 'a', 'rm', '/dev/shm/fill'], env);
    const freed = await one('a');
    t.ok(freed.memory.usage < after.memory.usage - 16 * MiB, `freed: ${after.memory.usage} -> ${freed.memory.usage}`);
  });

  t.test('CPU % rises while a container spins', async (t) => {
    const spin = background(['exec', 'a', 'timeout', '8', 'sh', '-c', 'while :; do :; done']);
    await sleep(1000);
    const row = await one('a');
    t.ok(row.cpuPercent > 20, `CPU ${row.cpuPercent.toFixed(2)}% with one busy loop (2 CPUs, a busy machine)`);
    spin.child.kill('SIGINT');
    await spin.ended;
  });

  t.test('network bytes rise during a ping flood to a peer on the network', async (t) => {
    const a0 = await one('a');
    const b0 = await one('b');
    const flood = background(['exec', 'a', 'ping', '-A', '-q', '-s', '1000', '-w', '6', ipB]);
    await sleep(2000);
    const a1 = await one('a');
    await sleep(1500);
    const a2 = await one('a');
    const b2 = await one('b');
    t.ok(a1.net.txBytes - a0.net.txBytes > 100_000, `a sent ${a1.net.txBytes - a0.net.txBytes} B within 3 s`);
    t.ok(a2.net.txBytes > a1.net.txBytes && a2.net.rxBytes > a1.net.rxBytes, 'still rising while the flood runs');
    t.ok(b2.net.rxBytes - b0.net.rxBytes > 100_000, `b received ${b2.net.rxBytes - b0.net.rxBytes} B`);
    t.equal(await flood.ended, 0, 'the flood got its replies');
  });

  t.test('stats streams: a row set every second until interrupted', async (t) => {
    const s = background(['stats', '--json', 'a']);
    const got = await until(() => s.out().split('\n').filter(Boolean).length >= 3, 8000, 100);
    t.ok(got.value, `three refreshes in ${got.ms} ms: ${s.out()}`);
    const sets = s.out().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Row[]);
    t.ok(sets.every((set) => set.length === 1 && set[0]!.name === 'a'));
    s.child.kill('SIGINT');
    await s.ended;
  });

  t.test('top lists a process started by exec, and not once that exec ends', async (t) => {
    const r = await vxnet(['-H', 'h1', 'top', 'a'], env);
    t.equal(r.code, 0, r.stderr);
    t.match(r.stdout.split('\n')[0], /^UID\s+PID\s+PPID\s+C\s+STIME\s+TTY\s+TIME\s+CMD$/);
    t.match(r.stdout, /^root\s+\d+\s+\d+\s+\d+\s+\d\d:\d\d\s+\?\s+\d\d:\d\d:\d\d\s+sh -c trap/m, 'the init, as ps -ef shows it');
    const sleeper = background(['exec', 'a', 'sleep', '314']);
    const seen = await until(async () => (await top('a')).find((p) => p.cmd === 'sleep 314'), 10_000, 200);
    t.ok(seen.value, 'sleep 314 is listed');
    const init = (JSON.parse((await vxnet(['-H', 'h1', 'inspect', '--json', 'a'], env)).stdout) as { pid: number }).pid;
    t.ok((await top('a')).some((p) => p.pid === init), 'with the init, by its host pid');
    t.match((await vxnet(['-H', 'h1', 'top', 'a'], env)).stdout, /\ssleep 314\n/);
    sleeper.child.kill('SIGINT');
    await sleeper.ended;
    const gone = await until(async () => !(await top('a')).some((p) => p.cmd === 'sleep 314'), 10_000, 200);
    t.ok(gone.value, 'gone once its exec ended');
  });

  t.test('a stopped container: stats shows "--", top refuses', async (t) => {
    await ok(['run', '-d', '--name', 'c', 'busybox']);
    await ok(['stop', '-t', '0', 'c']);
    const r = await vxnet(['-H', 'h1', 'stats', '--no-stream', 'c'], env);
    t.equal(r.code, 0, r.stderr);
    t.match(r.stdout, /\sc\s+--\s+-- \/ --\s+--\s+-- \/ --\s+--\n/);
    const refused = await vxnet(['-H', 'h1', 'top', 'c'], env);
    t.equal(refused.code, 1);
    t.equal(refused.stderr, 'vxnet: could not list the processes of container "c": it is not running\n');
    const missing = await vxnet(['-H', 'h1', 'stats', '--no-stream', 'nope'], env);
    t.equal(missing.code, 1);
    t.match(missing.stderr, /no such container: nope/);
  });
}
