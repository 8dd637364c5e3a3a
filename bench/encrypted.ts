/**
 * An encrypted network (`--opt encrypted`: VXLAN inside WireGuard, here the userspace
 * wireguard-go since the kernel has none) against a plain network on the same two
 * hosts, in one run, with the underlay host to host as a further baseline:
 *   - TCP throughput (iperf3, one stream, 3 s) container h1 -> container h2;
 *   - RTT (ping, 200 x 10 ms);
 *   - and WireGuard alone (host to host over the tunnel addresses, no VXLAN), to
 *     tell what wireguard-go costs from what VXLAN inside it adds.
 * Alternating plain / encrypted / underlay, 5 rounds, medians. No goal (issue 13):
 * wireguard-go on 2 cores is CPU-bound; the ratio is the figure.
 *
 *   node bench/dist/encrypted.js   (root; iperf3, wireguard-go, wireguard-tools: npm run bench -- encrypted)
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { ms, summarize, writeReport } from './lib/stats.js';

const ROUNDS = 5;
const VXNET = fileURLToPath(new URL('../../packages/cli/bin/vxnet.js', import.meta.url));
const median = (xs: number[]): number => summarize(xs).p50;

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('this benchmark runs in a lab and needs root');
  const home = mkdtempSync(join(tmpdir(), 'vxnet-bench-encrypted-'));
  const env = { ...process.env, VXNET_HOME: home };
  const lab = `enc-${process.pid.toString(36)}`;
  const vx = (...args: string[]) => execFileSync(process.execPath, [VXNET, ...args], { env, encoding: 'utf8' });
  const servers: ChildProcess[] = [];
  const loadBefore = loadavg()[0]!;
  try {
    vx('lab', 'up', '--name', lab, '--hosts', '2');
    vx('net', 'create', 'plain');
    vx('net', 'create', '--opt', 'encrypted=', 'secret');
    const state = JSON.parse(readFileSync(join(home, 'labs', lab, 'lab.json'), 'utf8')) as { hosts: Array<{ keeper: { pid: number }; underlayIp: string }> };
    const keeper = (i: number) => state.hosts[i]!.keeper.pid;
    const onHost = (i: number, args: string[]) => execFileSync('nsenter', [`--net=/proc/${keeper(i)}/ns/net`, `--mount=/proc/${keeper(i)}/ns/mnt`, '--', ...args], { encoding: 'utf8' });
    const container = (host: string, net: string) => {
      const id = vx('-H', host, 'run', '-d', '--name', `${net}-${host}`, '--net', net, 'busybox').trim();
      const ip = (JSON.parse(vx('-H', host, 'inspect', '--json', id)) as { networks: Array<{ ip: string }> }).networks[0]!.ip;
      return { id, ip, netns: `/run/netns/vxnet-s-${id.slice(0, 12)}` };
    };
    const paths = {
      plain: { client: container('h1', 'plain'), server: container('h2', 'plain') },
      encrypted: { client: container('h1', 'secret'), server: container('h2', 'secret') },
    };
    const inNs = (i: number, netns: string, args: string[]) => onHost(i, ['nsenter', `--net=${netns}`, '--', ...args]);
    const startServer = (i: number, args: string[]) => {
      const p = spawn('nsenter', [`--net=/proc/${keeper(i)}/ns/net`, `--mount=/proc/${keeper(i)}/ns/mnt`, '--', ...args], { stdio: 'ignore' });
      servers.push(p);
    };
    startServer(1, ['nsenter', `--net=${paths.plain.server.netns}`, '--', 'iperf3', '-s']);
    startServer(1, ['nsenter', `--net=${paths.encrypted.server.netns}`, '--', 'iperf3', '-s']);
    startServer(1, ['iperf3', '-s', '-B', state.hosts[1]!.underlayIp]);
    // WireGuard alone, host to host over the tunnel addresses: what wireguard-go costs without VXLAN
    const tunnelIp = /inet (\d+\.\d+\.\d+\.\d+)/.exec(onHost(1, ['ip', '-4', '-o', 'addr', 'show', 'vxwg0']))?.[1];
    if (tunnelIp === undefined) throw new Error('h2 has no tunnel address on vxwg0');
    startServer(1, ['iperf3', '-s', '-B', tunnelIp]);
    await sleep(500);
    // first contact: ARP, WireGuard handshake
    for (const p of Object.values(paths)) inNs(0, p.client.netns, ['ping', '-c', '3', '-W', '2', p.server.ip]);

    type Path = 'underlay' | 'wireguard' | 'plain' | 'encrypted';
    const run: Record<Path, (args: string[]) => string> = {
      underlay: (args) => onHost(0, args),
      wireguard: (args) => onHost(0, args),
      plain: (args) => inNs(0, paths.plain.client.netns, args),
      encrypted: (args) => inNs(0, paths.encrypted.client.netns, args),
    };
    const target: Record<Path, string> = { underlay: state.hosts[1]!.underlayIp, wireguard: tunnelIp, plain: paths.plain.server.ip, encrypted: paths.encrypted.server.ip };
    const iperf = (p: Path) => {
      const r = JSON.parse(run[p](['iperf3', '-c', target[p], '-t', '3', '-J'])) as { end: { sum_received: { bits_per_second: number } } };
      return r.end.sum_received.bits_per_second / 1e9;
    };
    const rtt = (p: Path) => {
      const text = run[p](['ping', '-c', '200', '-i', '0.01', '-q', target[p]]);
      const m = /= [\d.]+\/([\d.]+)\//.exec(text);
      if (!m) throw new Error(`no RTT in: ${text}`);
      return Number(m[1]);
    };
    const order: Path[] = ['plain', 'encrypted', 'underlay', 'wireguard'];
    const tput: Record<Path, number[]> = { underlay: [], wireguard: [], plain: [], encrypted: [] };
    const rtts: Record<Path, number[]> = { underlay: [], wireguard: [], plain: [], encrypted: [] };
    for (let i = 0; i < ROUNDS; i++) {
      for (const p of order) tput[p].push(iperf(p));
      for (const p of order) rtts[p].push(rtt(p));
    }
    const mtu = (p: 'plain' | 'encrypted') => / mtu (\d+)/.exec(inNs(0, paths[p].client.netns, ['ip', '-o', 'link', 'show', 'eth0']))?.[1] ?? '?';
    const tRatio = median(tput.encrypted) / median(tput.plain);
    const rRatio = median(rtts.encrypted) / median(rtts.plain);
    const lines = [
      '| figure | underlay host → host | WireGuard alone, host → host (tunnel addresses) | plain overlay (baseline) | encrypted overlay | encrypted / plain |',
      '|---|---:|---:|---:|---:|---:|',
      `| TCP throughput, iperf3 1 stream (Gbit/s, median of ${ROUNDS}) | ${median(tput.underlay).toFixed(2)} | ${median(tput.wireguard).toFixed(2)} | ${median(tput.plain).toFixed(2)} | ${median(tput.encrypted).toFixed(2)} | ${tRatio.toFixed(2)} |`,
      `| RTT, ping avg over 200 (ms, median of ${ROUNDS}) | ${ms(median(rtts.underlay))} | ${ms(median(rtts.wireguard))} | ${ms(median(rtts.plain))} | ${ms(median(rtts.encrypted))} | ${rRatio.toFixed(2)} |`,
      `| MTU | 1500 | 1420 | ${mtu('plain')} | ${mtu('encrypted')} | |`,
    ];
    const table = lines.join('\n');
    const wgGo = onHost(0, ['sh', '-c', 'dpkg-query -W -f "\\${Version}" wireguard-go']).trim();
    const report = [
      '# Encrypted overlay (VXLAN inside WireGuard) vs the plain overlay on the same hosts',
      '',
      'Command: `node bench/dist/encrypted.js` (root, after `npx tsc -b`; also `npm run bench -- encrypted`)',
      `Date: ${new Date().toISOString()}`,
      `Setup: a 2-host lab (veth underlay, MTU 1500); one busybox container per host on each network, client on h1, server on h2; ` +
        `backend wireguard-go ${wgGo} (this kernel has no WireGuard); ${execFileSync('iperf3', ['--version'], { encoding: 'utf8' }).split('\n')[0]}; ` +
        `plain, encrypted, underlay and WireGuard alone alternating, ${ROUNDS} rounds, 2 cores shared by both hosts, the client, the server and both wireguard-go processes. ` +
        `Machine load average (1 min) ${loadBefore.toFixed(1)} before, ${loadavg()[0]!.toFixed(1)} after: other work shares the cores, which hits the CPU-bound encrypted path hardest.`,
      '',
      table,
      '',
    ].join('\n');
    console.log(table);
    writeReport('encrypted', report);
  } finally {
    for (const s of servers) if (s.pid !== undefined) s.kill('SIGTERM');
    try {
      vx('lab', 'down', '--name', lab);
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  }
}

await main();
