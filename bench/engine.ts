/**
 * Containers in a 3-host lab, 20 trials:
 *   - `run -d` latency: POST /v1/containers on h1's engine (busybox on net1) until it
 *     answers with the container running (the CLI adds Node's start-up on top: also
 *     measured, as the whole `vxnet -H h1 run -d` command, on fewer trials);
 *   - convergence: from that answer to a container on h2 resolving the new name and
 *     getting a ping answer (`ping -c1 -W1 NAME` through the engine's exec), tried
 *     every 10 ms.
 * Baseline, same run: GET /v1/health on the same engine socket.
 *
 *   node bench/dist/engine.js [trials]      (root; after npm run build)
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { Agent } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { unixExec, unixJson } from '@vxnet/common/testing';
import { ms, summarize, time, writeReport } from './lib/stats.js';

const TRIALS = Number(process.argv[2] ?? 20);
const CLI_TRIALS = Math.min(TRIALS, 10);
const VXNET = fileURLToPath(new URL('../../packages/cli/bin/vxnet.js', import.meta.url));

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('this benchmark runs in a lab and needs root');
  const home = mkdtempSync(join(tmpdir(), 'vxnet-bench-engine-'));
  const env = { ...process.env, VXNET_HOME: home };
  const lab = `eng-${process.pid.toString(36)}`;
  const vx = (...args: string[]) => execFileSync(process.execPath, [VXNET, ...args], { env, encoding: 'utf8' });
  const keep = new Agent({ keepAlive: true, maxSockets: 1 });
  try {
    vx('lab', 'up', '--name', lab, '--hosts', '3');
    vx('net', 'create', 'net1');
    const state = JSON.parse(readFileSync(join(home, 'labs', lab, 'lab.json'), 'utf8'));
    const sock = (h: string): string => state.hosts.find((x: { name: string }) => x.name === h).engine.socket;
    const [h1, h2] = [sock('h1'), sock('h2')];
    const run = (socket: string, name: string) => unixJson(socket, 'POST', '/v1/containers', { name, image: 'busybox', networks: ['net1'], detach: true }, keep);
    const w = await run(h2, 'watcher');
    if (w.status !== 201) throw new Error(`watcher: ${JSON.stringify(w.body)}`);
    for (let i = 0; i < 3; i++) await unixJson(h1, 'GET', '/v1/health', undefined, keep); // warm-up

    const runMs: number[] = [];
    const convMs: number[] = [];
    const base: number[] = [];
    for (let i = 0; i < TRIALS; i++) {
      base.push(await time(() => unixJson(h1, 'GET', '/v1/health', undefined, keep)));
      const name = `c${i}`;
      const t0 = performance.now();
      const r = await run(h1, name);
      const t1 = performance.now();
      if (r.status !== 201) throw new Error(`run ${name}: ${JSON.stringify(r.body)}`);
      runMs.push(t1 - t0);
      for (;;) {
        const e = await unixExec(h2, 'watcher', { cmd: ['ping', '-c1', '-W1', name] });
        if (e.exitCode === 0) break;
        if (performance.now() - t1 > 10_000) throw new Error(`${name} never answered by name from h2`);
        await sleep(10);
      }
      convMs.push(performance.now() - t1);
      await unixJson(h1, 'DELETE', `/v1/containers/${name}?force=true`, undefined, keep);
    }
    const cli: number[] = [];
    for (let i = 0; i < CLI_TRIALS; i++) {
      cli.push(await time(async () => vx('-H', 'h1', 'run', '-d', '--name', `cli${i}`, '--net', 'net1', 'busybox')));
      vx('-H', 'h1', 'rm', '-f', `cli${i}`);
    }
    const rows: Array<[string, number, number[]]> = [
      ['run -d, engine API: request → running (busybox on net1)', TRIALS, runMs],
      ['convergence: run -d answered → name resolves and pings from h2', TRIALS, convMs],
      ['whole `vxnet -H h1 run -d` command (includes Node start-up)', CLI_TRIALS, cli],
    ];
    const b = summarize(base);
    const table = [
      '| measure | trials | p50 (ms) | p99 (ms) | p50 / baseline |',
      '|---|---:|---:|---:|---:|',
      ...rows.map(([label, n, s]) => {
        const x = summarize(s);
        return `| ${label} | ${n} | ${ms(x.p50)} | ${ms(x.p99)} | ${(x.p50 / b.p50).toFixed(1)} |`;
      }),
    ].join('\n');
    console.log(table);
    writeReport('engine', [
      '# Engine: run latency and name convergence',
      '',
      `Command: \`node bench/dist/engine.js${process.argv[2] ? ` ${process.argv[2]}` : ''}\` (root; after \`npm run build\`)`,
      `Date: ${new Date().toISOString()}`,
      `Setup: a 3-host lab (runc ${execFileSync('runc', ['--version'], { encoding: 'utf8' }).split('\n')[0]?.replace('runc version ', '')}, busybox-static rootfs), requests over the engines' unix sockets. Baseline: GET /v1/health on h1's engine, p50 ${ms(b.p50)} ms, same run. Goals: run p50 under 150 ms; convergence p99 under 200 ms. Convergence includes the exec of ping itself (a runc exec, tens of ms) and up to 10 ms of polling.`,
      '',
      table,
      '',
    ].join('\n'));
  } finally {
    keep.destroy();
    try {
      vx('lab', 'down', '--name', lab);
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  }
}

await main();
