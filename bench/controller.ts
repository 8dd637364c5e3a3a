/**
 * Controller latency in a real lab (controller and etcd each in their namespace, the
 * bench talking to the controller's unix socket as the CLI does):
 *   - net create with 0 and with 1000 existing networks (default pool and --subnet)
 *   - net ls with 1000 networks
 * Baseline, in the same run: GET /v1/health, one API call doing one etcd read.
 *
 *   node bench/dist/controller.js [trials]     (default 100; needs root)
 *
 * Prints a markdown table and writes it to bench/results/controller.md.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { Agent } from 'node:http';
import { unixJson } from '@vxnet/common/testing';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ms, summarize, time, writeReport } from './lib/stats.js';

const TRIALS = Number(process.argv[2] ?? 100);
const FILL = 1000;
const VXNET = fileURLToPath(new URL('../../packages/cli/bin/vxnet.js', import.meta.url));

const agent = new Agent({ keepAlive: true, maxSockets: 1 });

const api = (socketPath: string, method: string, path: string, body?: unknown) => unixJson(socketPath, method, path, body, agent);

async function ok(p: Promise<{ status: number; body: any }>, want: number): Promise<any> {
  const r = await p;
  if (r.status !== want) throw new Error(`expected ${want}, got ${r.status}: ${JSON.stringify(r.body)}`);
  return r.body;
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('the controller benchmark runs in a lab and needs root');
  const home = mkdtempSync(join(tmpdir(), 'vxnet-bench-ctl-'));
  const env = { ...process.env, VXNET_HOME: home };
  const lab = `bench-${process.pid.toString(36)}`;
  const vx = (...args: string[]) => execFileSync(process.execPath, [VXNET, ...args], { env, encoding: 'utf8' });
  try {
    vx('lab', 'up', '--name', lab, '--hosts', '1', '--underlay', '198.51.100.0/24');
    const status = JSON.parse(vx('lab', 'status', '--json'));
    const sock: string = status.controller.url.slice('unix://'.length);
    const health = () => ok(api(sock, 'GET', '/v1/health'), 200);
    for (let i = 0; i < 50; i++) await health(); // warm-up: connections, JIT

    const rows: Array<[string, number, number[], number[]]> = [];
    let seq = 0;
    /** Create then remove (so the count stays put), timing the create; baseline samples interleaved. */
    const createTrials = async (label: string, existing: number, body: () => object) => {
      const samples: number[] = [];
      const base: number[] = [];
      for (let i = 0; i < TRIALS; i++) {
        base.push(await time(health));
        const name = `t${seq++}`;
        samples.push(await time(() => ok(api(sock, 'POST', '/v1/networks', { name, ...body() }), 201)));
        await ok(api(sock, 'DELETE', `/v1/networks/${name}`), 200);
      }
      rows.push([label, existing, samples, base]);
    };
    const explicit = () => ({ subnet: `100.${64 + (seq % 64)}.${seq % 256}.0/24`, hostSubnetLength: 28 });

    await createTrials('net create (default pool)', 0, () => ({}));
    await createTrials('net create --subnet', 0, explicit);

    const fillStart = Date.now();
    for (let i = 0; i < FILL; i++) {
      await ok(api(sock, 'POST', '/v1/networks', { name: `fill-${i}`, subnet: `172.${16 + (i >> 8)}.${i & 255}.0/24`, hostSubnetLength: 28 }), 201);
    }
    const fillMs = Date.now() - fillStart;

    await createTrials('net create (default pool)', FILL, () => ({}));
    await createTrials('net create --subnet', FILL, explicit);

    const ls: number[] = [];
    const lsBase: number[] = [];
    for (let i = 0; i < TRIALS; i++) {
      lsBase.push(await time(health));
      ls.push(await time(async () => {
        const r = await ok(api(sock, 'GET', '/v1/networks'), 200);
        if (r.networks.length !== FILL) throw new Error(`net ls saw ${r.networks.length} networks`);
      }));
    }
    rows.push(['net ls', FILL, ls, lsBase]);

    const lines = [
      '| operation | existing networks | p50 (ms) | p99 (ms) | baseline p50 (ms) | p50 / baseline |',
      '|---|---:|---:|---:|---:|---:|',
      ...rows.map(([label, n, s, b]) => {
        const a = summarize(s);
        const base = summarize(b);
        return `| ${label} | ${n} | ${ms(a.p50)} | ${ms(a.p99)} | ${ms(base.p50)} | ${(a.p50 / base.p50).toFixed(2)} |`;
      }),
    ];
    const table = lines.join('\n');
    console.log(table);
    const etcdVersion = execFileSync('etcd', ['--version'], { encoding: 'utf8' }).split('\n')[0];
    writeReport('controller', [
      '# Controller latency: net create and net ls',
      '',
      `Command: \`node bench/dist/controller.js${process.argv[2] ? ` ${process.argv[2]}` : ''}\` (root; after \`npm run build\`)`,
      `Date: ${new Date().toISOString()}`,
      `Setup: a 1-host lab; the controller (Node ${process.version}, fastify 5) and ${etcdVersion} each in their own network namespace on the lab underlay; requests over the controller's unix socket, one at a time, keep-alive. ${TRIALS} trials per row. Baseline: GET /v1/health (one API call doing one etcd read), interleaved with the measured calls. Creates at a fixed count are each followed by a remove. Filling ${FILL} networks (--subnet /24 each) took ${fillMs} ms.`,
      '',
      table,
      '',
      `Controller RSS after the run: ${Math.round(rssOf(status.controller.pid) / 1024)} MiB.`,
      '',
    ].join('\n'));
  } finally {
    agent.destroy();
    try {
      vx('lab', 'down', '--name', lab);
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  }
}

function rssOf(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : NaN;
}

await main();
