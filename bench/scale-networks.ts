/**
 * The controller at 10,000 networks (issue 15): `net create` p50/p99 and `net ls` (first
 * page, every page as the CLI asks for them, the whole unpaged list) at 0, 1,000 and
 * 10,000 networks, and `vxnet net ls` end to end at 10,000 (first row, last row).
 * Baselines measured in the same run, interleaved with the measured calls: a raw etcd
 * put + get round trip (etcd3, the client EtcdStore wraps, one key) and GET /v1/health
 * (one API call doing one etcd read); `node -e 0` for the CLI rows.
 *
 * Setup: etcd on loopback (Debian etcd-server, as the store tests start it) and one
 * real controller process (bin) on a unix socket, talked to as the CLI does. The
 * default pool is 10.128.0.0/9 cut in /24 blocks (32,768 of them) so that 10,000
 * networks fit in it. The networks are filled through the API, 4 creates in flight:
 * 9 in 10 from the default pool, 1 in 10 with --subnet (a /24 of 100.64.0.0/10).
 *
 *   node bench/dist/scale-networks.js [trials]     (default 100; no root needed)
 *
 * Prints a markdown table and writes it to bench/results/scale-networks.md.
 * Goal: net create p50 < 20 ms at 10,000 networks.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { Agent } from 'node:http';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { Etcd3 } from 'etcd3';
import { isAlive, spawnDaemon, stopProcess, type ProcessRecord } from '@vxnet/common';
import { startTestEtcd, unixJson } from '@vxnet/common/testing';
import { ms, summarize, time, writeReport } from './lib/stats.js';

const TRIALS = Number(process.argv[2] ?? 100);
/** Full listings are slow at 10,000: fewer of them. */
const LIST_TRIALS = Math.max(5, Math.min(20, TRIALS));
const CLI_TRIALS = 5;
const LEVELS = [0, 1000, 10_000];
/** Creates in flight while filling (racing for the same cursor: more is not faster). */
const IN_FLIGHT = 4;
const PAGE = 200;
const GOAL_MS = 20;
const VXNET = fileURLToPath(new URL('../../packages/cli/bin/vxnet.js', import.meta.url));
const CONTROLLER = join(dirname(fileURLToPath(import.meta.resolve('@vxnet/controller'))), '../../bin/vxnet-controller.js');

/** One keep-alive connection per in-flight request, as the CLI has one. */
const agent = new Agent({ keepAlive: true, maxSockets: IN_FLIGHT });

async function ok(p: Promise<{ status: number; body: any }>, want: number): Promise<any> {
  const r = await p;
  if (r.status !== want) throw new Error(`expected ${want}, got ${r.status}: ${JSON.stringify(r.body)}`);
  return r.body;
}

interface Row {
  what: string;
  networks: number;
  samples: number[];
  /** raw etcd put + get, one per sample, interleaved */
  etcd: number[];
  /** GET /v1/health, one per sample, interleaved */
  health: number[];
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'vxnet-bench-scale-'));
  const etcd = await startTestEtcd('vxnet-bench-scale');
  const raw = new Etcd3({ hosts: etcd.endpoint });
  let ctl: ProcessRecord | undefined;
  try {
    const socket = join(dir, 'controller.sock');
    const logFile = join(dir, 'controller.log');
    ctl = spawnDaemon({
      command: process.execPath,
      args: [CONTROLLER, '--store', etcd.storeUrl, '--socket', socket, '--default-block-length', '24', '--log-level', 'warn'],
      logFile,
    });
    await waitHealthy(socket, ctl, logFile);
    const api = (method: string, path: string, body?: unknown) => unixJson(socket, method, path, body, agent);
    const health = () => ok(api('GET', '/v1/health'), 200);
    const etcdRoundTrip = async () => {
      await raw.put('/bench-baseline/k').value('v');
      await raw.get('/bench-baseline/k');
    };
    for (let i = 0; i < 50; i++) {
      await health();
      await etcdRoundTrip();
    } // warm-up: connections, JIT

    const rows: Row[] = [];
    let seq = 0;
    let count = 0;
    const fills: string[] = [];

    /** `measure` n times, each after one sample of each baseline; `measure` may return the time to count (else its whole call is timed). */
    const trials = async (what: string, n: number, measure: () => Promise<unknown>) => {
      const row: Row = { what, networks: count, samples: [], etcd: [], health: [] };
      for (let i = 0; i < n; i++) {
        row.etcd.push(await time(etcdRoundTrip));
        row.health.push(await time(health));
        let own: unknown;
        const whole = await time(async () => {
          own = await measure();
        });
        row.samples.push(typeof own === 'number' ? own : whole);
      }
      rows.push(row);
    };
    /** A create then a remove (so the count stays put), counting the create only. */
    const createRemove = (body: () => object) => async () => {
      const name = `t${seq++}`;
      const t = await time(() => ok(api('POST', '/v1/networks', { name, hostSubnetLength: 28, ...body() }), 201));
      await ok(api('DELETE', `/v1/networks/${name}`), 200);
      return t;
    };
    const allPages = async () => {
      let after: string | undefined;
      let seen = 0;
      do {
        const page = await ok(api('GET', `/v1/networks?limit=${PAGE}${after ? `&after=${after}` : ''}`), 200);
        seen += page.networks.length;
        after = page.next;
      } while (after !== undefined);
      if (seen !== count) throw new Error(`the pages held ${seen} networks, not ${count}`);
    };

    for (const level of LEVELS) {
      const start = Date.now();
      const target = level;
      while (count < target) {
        const batch = Math.min(IN_FLIGHT, target - count);
        await Promise.all(Array.from({ length: batch }, async (_, j) => {
          const i = count + j;
          const body = i % 10 === 9 ? { subnet: `100.${64 + (Math.floor(i / 10) >> 8)}.${Math.floor(i / 10) & 255}.0/24` } : {};
          await ok(api('POST', '/v1/networks', { name: `fill-${String(i).padStart(5, '0')}`, hostSubnetLength: 28, ...body }), 201);
        }));
        count += batch;
      }
      if (level > 0) fills.push(`to ${level}: ${((Date.now() - start) / 1000).toFixed(1)} s`);

      await trials('net create (default pool)', TRIALS, createRemove(() => ({})));
      await trials('net create --subnet', TRIALS, createRemove(() => ({ subnet: `100.${128 + (seq % 64)}.${seq % 256}.0/24` })));
      await trials(`net ls, first page (${PAGE})`, TRIALS, () => ok(api('GET', `/v1/networks?limit=${PAGE}`), 200));
      await trials(`net ls, every page (${PAGE} each)`, LIST_TRIALS, allPages);
      await trials('net ls, whole list unpaged', LIST_TRIALS, async () => {
        const r = await ok(api('GET', '/v1/networks'), 200);
        if (r.networks.length !== count) throw new Error(`the list held ${r.networks.length} networks, not ${count}`);
      });
    }

    // the CLI as a user runs it, at the last level: time to the first row and to the end
    const cli = { first: [] as number[], total: [] as number[], node: [] as number[] };
    for (let i = 0; i < CLI_TRIALS; i++) {
      cli.node.push(await time(() => run(process.execPath, ['-e', '0']).done));
      const r = run(process.execPath, [VXNET, '--controller', `unix://${socket}`, 'net', 'ls']);
      const t0 = process.hrtime.bigint();
      await r.firstLine(1); // line 0 is the header
      cli.first.push(Number(process.hrtime.bigint() - t0) / 1e6);
      const lines = await r.done;
      cli.total.push(Number(process.hrtime.bigint() - t0) / 1e6);
      if (lines !== count + 1) throw new Error(`vxnet net ls printed ${lines} lines for ${count} networks`);
    }

    const at10k = (what: string) => rows.find((r) => r.what === what && r.networks === 10_000);
    const goal = (what: string) => {
      const r = at10k(what);
      const p50 = r ? summarize(r.samples).p50 : NaN;
      return `${what} p50 at 10,000 networks: ${ms(p50)} ms, goal < ${GOAL_MS} ms: **${p50 < GOAL_MS ? 'met' : 'not met'}**`;
    };
    const table = [
      '| operation | networks | p50 (ms) | p99 (ms) | etcd put+get p50 (ms) | GET /v1/health p50 (ms) | p50 / health p50 |',
      '|---|---:|---:|---:|---:|---:|---:|',
      ...rows.map((r) => {
        const a = summarize(r.samples);
        const h = summarize(r.health).p50;
        return `| ${r.what} | ${r.networks} | ${ms(a.p50)} | ${ms(a.p99)} | ${ms(summarize(r.etcd).p50)} | ${ms(h)} | ${(a.p50 / h).toFixed(2)} |`;
      }),
    ].join('\n');
    const cliTable = [
      `| \`vxnet net ls\` at ${count} networks (${CLI_TRIALS} runs) | p50 (ms) |`,
      '|---|---:|',
      `| first row printed | ${ms(summarize(cli.first).p50)} |`,
      `| last row printed (exit) | ${ms(summarize(cli.total).p50)} |`,
      `| baseline: \`node -e 0\` | ${ms(summarize(cli.node).p50)} |`,
    ].join('\n');
    const goals = [goal('net create (default pool)'), goal('net create --subnet')];
    const load = loadavg().map((l) => l.toFixed(2)).join(' ');
    console.log(`${table}\n\n${cliTable}\n\n${goals.join('\n')}\nload average: ${load}`);
    const etcdVersion = execFileSync('etcd', ['--version'], { encoding: 'utf8' }).split('\n')[0];
    writeReport('scale-networks', [
      '# The controller at 10,000 networks: net create and net ls',
      '',
      `Command: \`node bench/dist/scale-networks.js${process.argv[2] ? ` ${process.argv[2]}` : ''}\` (after \`npm run build\`)`,
      `Date: ${new Date().toISOString()}; load average at the end (1, 5, 15 min): ${load}; ${process.env.VXNET_BENCH_NOTE ?? 'the machine is shared with other jobs'}`,
      `Setup: ${etcdVersion} on loopback and one controller process (Node ${process.version}) on a unix socket; requests one at a time, keep-alive. Default pool 10.128.0.0/9 in /24 blocks. ${TRIALS} trials per create and first-page row, ${LIST_TRIALS} per full listing. Each timed create is followed by a remove (the count stays put). Baselines, interleaved with every trial: a raw etcd put+get of one key (etcd3 client) and GET /v1/health (one API call, one etcd read). Networks filled through the API (${IN_FLIGHT} creates in flight; 9 in 10 from the default pool, 1 in 10 with --subnet): ${fills.join(', ')}.`,
      '',
      table,
      '',
      cliTable,
      '',
      ...goals.map((g) => `- ${g}`),
      '',
      `Controller RSS after the run: ${Math.round(rssOf(ctl.pid) / 1024)} MiB.`,
      '',
    ].join('\n'));
  } finally {
    agent.destroy();
    raw.close();
    if (ctl) await stopProcess(ctl);
    await etcd.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function waitHealthy(socket: string, ctl: ProcessRecord, logFile: string): Promise<void> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (!isAlive(ctl)) throw new Error(`the controller exited:\n${readFileSync(logFile, 'utf8')}`);
    const r = await unixJson(socket, 'GET', '/v1/health').catch(() => ({ status: 0 }));
    if (r.status === 200) return;
    if (Date.now() > deadline) throw new Error(`the controller is not healthy after 15 s:\n${readFileSync(logFile, 'utf8')}`);
    await sleep(100);
  }
}

/** A child process: a promise of its n-th stdout line, and of its line count at exit (rejects on a non-zero exit). */
function run(cmd: string, args: string[]): { firstLine: (n: number) => Promise<void>; done: Promise<number> } {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  let lines = 0;
  const waiters: Array<{ n: number; resolve: () => void }> = [];
  child.stdout.on('data', (chunk: Buffer) => {
    for (const b of chunk) if (b === 10) lines++;
    for (const w of waiters.splice(0)) {
      if (lines > w.n) w.resolve();
      else waiters.push(w);
    }
  });
  const done = new Promise<number>((resolve, reject) => {
    child.on('exit', (code) => (code === 0 ? resolve(lines) : reject(new Error(`${cmd} ${args.join(' ')} exited ${code}`))));
  });
  return {
    firstLine: (n) => (lines > n ? Promise.resolve() : new Promise<void>((resolve) => waiters.push({ n, resolve }))),
    done,
  };
}

function rssOf(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : NaN;
}

await main();
