/**
 * What a 3-member etcd cluster costs against one member (issue 13), in two labs made
 * one after the other in the same run (2 hosts each, the same settings but
 * `--store-members`):
 *   - net create: POST /v1/networks on the controller's unix socket, keep-alive, one at
 *     a time, each followed by a remove (not timed);
 *   - convergence: from `vxnet -H h1 run -d --name cN --net net1 busybox` starting to
 *     cN answering DNS in a container on h2 (lib/waitname.ts polling its resolver every
 *     5 ms): the endpoint record's write, its replication, the watch on h2, the answer.
 * The 1-member lab is the baseline.
 *
 *   node bench/dist/etcd-cluster.js [trials]     (default 50 creates, 20 runs; needs root)
 *
 * Prints a markdown table and writes it to bench/results/etcd-cluster.md.
 */
import { execFile, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { Agent } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { unixJson } from '@vxnet/common/testing';
import { ms, summarize, time, writeReport } from './lib/stats.js';

const TRIALS = Number(process.argv[2] ?? 50);
const RUNS = Math.max(5, Math.round(TRIALS / 2.5));
const VXNET = fileURLToPath(new URL('../../packages/cli/bin/vxnet.js', import.meta.url));
const WAITNAME = fileURLToPath(new URL('./lib/waitname.js', import.meta.url));

interface Result {
  members: number;
  create: number[];
  run: number[];
  resolved: number[];
}

function vxAsync(env: NodeJS.ProcessEnv, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [VXNET, ...args], { env, encoding: 'utf8' }, (err, stdout, stderr) => (err ? reject(new Error(`vxnet ${args.join(' ')}: ${stderr}`)) : resolve(stdout)));
  });
}

/**
 * A watcher for `name` inside container pid's network namespace, asking `server`;
 * resolves once it polls, with `done` (wrapped: an async function returning a promise
 * would wait for it).
 */
async function watch(pid: number, name: string, server: string): Promise<{ done: Promise<number> }> {
  const p = spawn('nsenter', [`--net=/proc/${pid}/ns/net`, '--', process.execPath, WAITNAME, name, '20000', server], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  p.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  const done = new Promise<number>((resolve, reject) => {
    p.on('close', () => { // not 'exit': its last line may still be unread then (lib/waitname.ts firstReply)
      const line = out.split('\n').find((l) => l.startsWith('{'));
      const r = line ? (JSON.parse(line) as { resolvedMs?: number; error?: string }) : { error: `watcher printed ${out}` };
      if (r.resolvedMs !== undefined) resolve(r.resolvedMs);
      else reject(new Error(`${name}: ${r.error}`));
    });
  });
  done.catch(() => undefined); // awaited by the caller; a run that fails first must not make this unhandled
  while (!out.includes('ready') && p.exitCode === null) await sleep(5);
  await sleep(200);
  return { done };
}

async function measure(members: number): Promise<Result> {
  const home = mkdtempSync(join(tmpdir(), 'vxnet-bench-etcdc-'));
  const env = { ...process.env, VXNET_HOME: home };
  const lab = `ec${members}-${process.pid.toString(36)}`;
  const vx = (...args: string[]) => execFileSync(process.execPath, [VXNET, ...args], { env, encoding: 'utf8' });
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  try {
    vx('lab', 'up', '--name', lab, '--hosts', '2', '--store-members', String(members), '--underlay', '198.51.100.0/24');
    const status = JSON.parse(vx('lab', 'status', '--json'));
    const sock: string = status.controller.url.slice('unix://'.length);
    const api = (method: string, path: string, body?: unknown) => unixJson(sock, method, path, body, agent);
    for (let i = 0; i < 30; i++) await api('GET', '/v1/health'); // warm-up: connections, JIT

    const create: number[] = [];
    for (let i = 0; i < TRIALS; i++) {
      create.push(await time(async () => {
        const r = await api('POST', '/v1/networks', { name: `b${i}` });
        if (r.status !== 201) throw new Error(`create: ${r.status} ${JSON.stringify(r.body)}`);
      }));
      await api('DELETE', `/v1/networks/b${i}`);
    }

    vx('net', 'create', 'net1');
    vx('-H', 'h2', 'run', '-d', '--name', 'probe', '--net', 'net1', 'busybox');
    vx('-H', 'h1', 'run', '-d', '--name', 'warm', '--net', 'net1', 'busybox');
    const probe = JSON.parse(vx('-H', 'h2', 'inspect', '--json', 'probe')) as { pid: number };
    const server = /^nameserver\s+(\S+)/m.exec(readFileSync(`/proc/${probe.pid}/root/etc/resolv.conf`, 'utf8'))?.[1] as string;
    const run: number[] = [];
    const resolved: number[] = [];
    for (let i = -1; i < RUNS; i++) { // one untimed round first
      const name = `c${i + 1}`;
      const { done } = await watch(probe.pid, name, server);
      const t0 = Date.now();
      await vxAsync(env, ['-H', 'h1', 'run', '-d', '--name', name, '--net', 'net1', 'busybox']);
      const runMs = Date.now() - t0;
      const at = await done;
      if (i >= 0) {
        run.push(runMs);
        resolved.push(at - t0);
      }
      process.stderr.write(`${members} member(s) ${name}: run ${runMs} ms, resolved on h2 ${at - t0} ms\n`);
    }
    return { members, create, run, resolved };
  } finally {
    agent.destroy();
    try {
      vx('lab', 'down', '--name', lab);
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  }
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('this benchmark runs in labs and needs root');
  const one = await measure(1);
  const three = await measure(3);
  const row = (label: string, pick: (r: Result) => number[]) => {
    const a = summarize(pick(one));
    const b = summarize(pick(three));
    return `| ${label} | ${pick(one).length} | ${ms(a.p50)} | ${ms(a.p99)} | ${ms(b.p50)} | ${ms(b.p99)} | ${(b.p50 / a.p50).toFixed(2)} |`;
  };
  const table = [
    '| operation | trials | 1 member p50 (ms) | 1 member p99 (ms) | 3 members p50 (ms) | 3 members p99 (ms) | p50 3 / 1 |',
    '|---|---:|---:|---:|---:|---:|---:|',
    row('net create (controller API)', (r) => r.create),
    row('vxnet run -d on h1 (CLI, wall)', (r) => r.run),
    row('run start on h1 → name resolves on h2', (r) => r.resolved),
  ].join('\n');
  console.log(table);
  const etcdVersion = execFileSync('etcd', ['--version'], { encoding: 'utf8' }).split('\n')[0];
  writeReport('etcd-cluster', [
    '# A 3-member etcd cluster against one member: net create and convergence',
    '',
    `Command: \`node bench/dist/etcd-cluster.js${process.argv[2] ? ` ${process.argv[2]}` : ''}\` (root; after \`npm run build\`)`,
    `Date: ${new Date().toISOString()}`,
    `Setup: two 2-host labs made one after the other in this run, \`--store-members 1\` (the baseline) and \`--store-members 3\`, ${etcdVersion}, each member in its own network namespace on the lab underlay (a veth pair and a bridge: sub-millisecond RTT, so the cluster's cost here is its extra round trip and fsyncs, not distance). net create: ${TRIALS} trials over the controller's unix socket, keep-alive, each followed by an untimed remove. Convergence: ${RUNS} trials after one untimed round; \`vxnet -H h1 run -d\` as a user types it (CLI start included), and a watcher in a container on h2 sending an A query to its resolver every 5 ms (times include up to 5 ms of polling).`,
    '',
    table,
    '',
  ].join('\n'));
}

await main();
