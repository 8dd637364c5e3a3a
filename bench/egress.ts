/**
 * The egress path against the host's own path, in one run, in a 1-host lab with the
 * lab's outside namespace:
 *   - TCP throughput (iperf3, one stream, 3 s) and RTT (ping, 200 x 10 ms) to the
 *     outside from a container (through its network's uplink and the host's
 *     masquerade) and from the host namespace directly; alternating, 5 rounds,
 *     medians; goal: container/host >= 0.85 for throughput, host/container RTT >= 0.85;
 *   - one nftables apply of the agent's whole table with 100 networks, a published
 *     port on each and an exposed address on ten, in a namespace of its own, 20 times;
 *     goal: median < 100 ms. Baseline in the same run: `nft -f -` of an empty table.
 *
 *   node bench/dist/egress.js      (root; iperf3 installed: npm run bench -- egress)
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { ms, summarize, writeReport } from './lib/stats.js';
import { applyBench } from './lib/nft-apply.js';

const ROUNDS = 5;
const VXNET = fileURLToPath(new URL('../../packages/cli/bin/vxnet.js', import.meta.url));

const median = (xs: number[]): number => summarize(xs).p50;

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('this benchmark runs in a lab and needs root');
  const home = mkdtempSync(join(tmpdir(), 'vxnet-bench-egress-'));
  const env = { ...process.env, VXNET_HOME: home };
  const lab = `egr-${process.pid.toString(36)}`;
  const vx = (...args: string[]) => execFileSync(process.execPath, [VXNET, ...args], { env, encoding: 'utf8' });
  let server: ReturnType<typeof spawn> | undefined;
  try {
    vx('lab', 'up', '--name', lab, '--hosts', '1');
    vx('net', 'create', 'net1');
    const id = vx('-H', 'h1', 'run', '-d', '--name', 'c1', '--net', 'net1', 'busybox').trim();
    const status = JSON.parse(vx('lab', 'status', '--json')) as { outside: { netns: string; ip: string } };
    const out = status.outside;
    const state = JSON.parse(readFileSync(join(home, 'labs', lab, 'lab.json'), 'utf8')) as { hosts: Array<{ keeper: { pid: number } }> };
    const keeper = state.hosts[0]!.keeper.pid;
    const onH1 = (args: string[]) => execFileSync('nsenter', [`--net=/proc/${keeper}/ns/net`, `--mount=/proc/${keeper}/ns/mnt`, '--', ...args], { encoding: 'utf8' });
    const inContainer = (args: string[]) => onH1(['nsenter', `--net=/run/netns/vxnet-s-${id.slice(0, 12)}`, '--', ...args]);

    server = spawn('nsenter', [`--net=/run/netns/${out.netns}`, '--', 'iperf3', '-s', '-B', out.ip], { stdio: 'ignore' });
    await sleep(500);
    const iperf = (runIn: (a: string[]) => string) => {
      const r = JSON.parse(runIn(['iperf3', '-c', out.ip, '-t', '3', '-J'])) as { end: { sum_received: { bits_per_second: number } } };
      return r.end.sum_received.bits_per_second / 1e9;
    };
    const rtt = (runIn: (a: string[]) => string) => {
      const text = runIn(['ping', '-c', '200', '-i', '0.01', '-q', out.ip]);
      const m = /= [\d.]+\/([\d.]+)\//.exec(text);
      if (!m) throw new Error(`no RTT in: ${text}`);
      return Number(m[1]);
    };
    const tput = { host: [] as number[], container: [] as number[] };
    const rtts = { host: [] as number[], container: [] as number[] };
    for (let i = 0; i < ROUNDS; i++) {
      tput.host.push(iperf(onH1));
      tput.container.push(iperf(inContainer));
      rtts.host.push(rtt(onH1));
      rtts.container.push(rtt(inContainer));
    }
    const tRatio = median(tput.container) / median(tput.host);
    const rRatio = median(rtts.host) / median(rtts.container);

    const apply = await applyBench(100, 20);
    const lines = [
      '| figure | host namespace → outside | container → outside (egress) | ratio | goal |',
      '|---|---:|---:|---:|---|',
      `| TCP throughput, iperf3 1 stream (Gbit/s, median of ${ROUNDS}) | ${median(tput.host).toFixed(2)} | ${median(tput.container).toFixed(2)} | ${tRatio.toFixed(2)} | ≥ 0.85: ${tRatio >= 0.85 ? 'met' : 'not met'} |`,
      `| RTT, ping avg (ms, median of ${ROUNDS}) | ${ms(median(rtts.host))} | ${ms(median(rtts.container))} | ${rRatio.toFixed(2)} (host/container) | ≥ 0.85: ${rRatio >= 0.85 ? 'met' : 'not met'} |`,
      '',
      '| nftables apply | p50 (ms) | p99 (ms) | goal |',
      '|---|---:|---:|---|',
      `| baseline: \`nft -f -\` of an empty table | ${ms(apply.baseline.p50)} | ${ms(apply.baseline.p99)} | |`,
      `| the agent's table, 100 networks (one port each, 10 exposed) | ${ms(apply.full.p50)} | ${ms(apply.full.p99)} | < 100 ms: ${apply.full.p50 < 100 ? 'met' : 'not met'} |`,
    ];
    const table = lines.join('\n');
    const report = [
      '# Egress: the container path to the outside vs the host\'s own, and the nftables apply',
      '',
      'Command: `node bench/dist/egress.js` (root, after `npx tsc -b`; also `npm run bench -- egress`)',
      `Date: ${new Date().toISOString()}`,
      `Setup: a 1-host lab (veth underlay, MTU 1500), the lab's outside behind its router; ${execFileSync('iperf3', ['--version'], { encoding: 'utf8' }).split('\n')[0]}; ` +
        `${execFileSync('nft', ['--version'], { encoding: 'utf8' }).trim()}; host and container alternating, ${ROUNDS} rounds. The apply runs in a fresh network namespace, ${apply.runs} times.`,
      '',
      table,
      '',
    ].join('\n');
    console.log(table);
    writeReport('egress', report);
  } finally {
    if (server?.pid !== undefined) process.kill(server.pid, 'SIGTERM');
    try {
      vx('lab', 'down', '--name', lab);
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  }
}

await main();
