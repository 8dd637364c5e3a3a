/**
 * Embedded DNS throughput: internal A answers per second on one core, our server
 * (DnsWorker: the agent's DNS worker thread, its socket bound inside the network namespace) against dnsmasq serving the same
 * names from an addn-hosts file, in the same run.
 *
 * Setup, all in namespaces made here: a "network" namespace with br0 holding
 * 10.77.0.1/24 (ours) and 10.77.0.3/24 (dnsmasq), a "client" namespace with eth0
 * 10.77.0.2/24 on a veth to br0. 1,000 container names c0…c999. The load generator
 * is dnsperf (Debian `dnsperf`) in the client namespace: the 1,000 names × N runs,
 * 64 queries outstanding, UDP. Both servers are pinned to CPU 0 (this process with
 * all its threads, and dnsmasq); dnsperf to CPU 1. Rounds alternate the order.
 *
 *   node bench/dist/dns.js [rounds] [queries]     (default 5 rounds of 50000; needs root)
 *
 * Prints a markdown table and writes bench/results/dns.md.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { DnsWorker, snapshotOf } from '@vxnet/agent';
import { deleteNetns, ensureNetns } from '@vxnet/netns';
import { silentLogger, type EndpointRecord, type NetworkSpec } from '@vxnet/common';
import { writeReport } from './lib/stats.js';

const ROUNDS = Number(process.argv[2] ?? 5);
const QUERIES = Number(process.argv[3] ?? 50_000);
const NAMES = 1000;
const OUTSTANDING = 64;
const PREFIX = `vxbd${process.pid}`;
const SRV = `${PREFIX}-s`;
const CLI = `${PREFIX}-c`;
const OURS = '10.77.0.1';
const DNSMASQ = '10.77.0.3';
const CLIENT = '10.77.0.2';
const ECHO = '10.77.0.4';

/**
 * The ceiling for any Node UDP server: answers every query with one fixed A record
 * (the query's bytes + 16), no decoding, no lookup. Shows how much of our time is
 * Node's per-datagram cost rather than DNS work.
 */
const ECHO_SERVER = `
const s = require('node:dgram').createSocket('udp4');
s.on('message', (m, r) => {
  const out = Buffer.allocUnsafe(m.length + 16); m.copy(out);
  out[2] |= 0x80; out[3] = 0x80; out[7] = 1;
  out.writeUInt16BE(0xc00c, m.length); out.writeUInt16BE(1, m.length + 2); out.writeUInt16BE(1, m.length + 4);
  out.writeUInt32BE(5, m.length + 6); out.writeUInt16BE(4, m.length + 10); out.writeUInt32BE(0x0a4d0401, m.length + 12);
  s.send(out, r.port, r.address);
});
s.bind(53, '${ECHO}');
`;
const NET = 'b'.repeat(64);

function run(cmd: string, ...args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function nameIp(i: number): string {
  return `10.77.${4 + Math.floor(i / 250)}.${(i % 250) + 1}`;
}

interface PerfResult { qps: number; completed: number; lost: number; latencyMs: number }

function dnsperf(server: string, file: string, runs: number): PerfResult {
  const out = run('ip', 'netns', 'exec', CLI, 'taskset', '-c', '1', 'dnsperf', '-s', server, '-d', file, '-n', String(runs), '-q', String(OUTSTANDING), '-c', '1', '-t', '2');
  const num = (re: RegExp) => Number(re.exec(out)?.[1]?.replace(/,/g, '') ?? NaN);
  return {
    qps: num(/Queries per second:\s+([\d.]+)/),
    completed: num(/Queries completed:\s+(\d+)/),
    lost: num(/Queries lost:\s+(\d+)/),
    latencyMs: num(/Average Latency \(s\):\s+([\d.]+)/) * 1000,
  };
}

function verify(server: string): void {
  const out = run('ip', 'netns', 'exec', CLI, 'busybox', 'nslookup', '-type=a', 'c7', server);
  if (!out.includes(nameIp(7))) throw new Error(`${server} did not answer c7 correctly:\n${out}`);
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('needs root');
  const dir = mkdtempSync(join(tmpdir(), 'vxnet-bench-dns-'));
  let dnsmasq: ChildProcess | undefined;
  let echo: ChildProcess | undefined;
  let ours: DnsWorker | undefined;
  try {
    ensureNetns(SRV);
    ensureNetns(CLI);
    run('ip', '-n', SRV, 'link', 'set', 'lo', 'up');
    run('ip', '-n', CLI, 'link', 'set', 'lo', 'up');
    run('ip', '-n', SRV, 'link', 'add', 'br0', 'type', 'bridge');
    run('ip', '-n', SRV, 'addr', 'add', `${OURS}/16`, 'dev', 'br0');
    run('ip', '-n', SRV, 'addr', 'add', `${DNSMASQ}/16`, 'dev', 'br0');
    run('ip', '-n', SRV, 'addr', 'add', `${ECHO}/16`, 'dev', 'br0');
    run('ip', '-n', SRV, 'link', 'set', 'br0', 'up');
    run('ip', '-n', SRV, 'link', 'add', 'vc0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', CLI);
    run('ip', '-n', SRV, 'link', 'set', 'vc0', 'master', 'br0', 'up');
    run('ip', '-n', CLI, 'addr', 'add', `${CLIENT}/16`, 'dev', 'eth0');
    run('ip', '-n', CLI, 'link', 'set', 'eth0', 'up');

    // the same names both ways
    const records = new Map<string, EndpointRecord>();
    const hosts: string[] = [];
    const queries: string[] = [];
    for (let i = 0; i < NAMES; i++) {
      records.set(`k${i}`, { id: `e${i}`, networkId: NET, name: `c${i}`, aliases: [], ip: nameIp(i), mac: '', host: 'h1', container: `ctr${i}`, createdAt: '' });
      hosts.push(`${nameIp(i)} c${i}`);
      queries.push(`c${i} A`);
    }
    records.set('client', { id: 'client', networkId: NET, name: 'bench-client', aliases: [], ip: CLIENT, mac: '', host: 'h1', container: 'bench-client', createdAt: '' });
    const networks = new Map<string, NetworkSpec>([[NET, { id: NET, name: 'bench', subnet: '10.77.0.0/16' } as NetworkSpec]]);
    const hostsFile = join(dir, 'hosts');
    const queryFile = join(dir, 'queries');
    writeFileSync(hostsFile, `${hosts.join('\n')}\n`);
    writeFileSync(queryFile, `${queries.join('\n')}\n`);

    // ours: this whole process (main thread, worker, libuv pool) on CPU 0
    run('taskset', '-a', '-cp', '0', String(process.pid));
    ours = new DnsWorker({ ttl: 5, forwarder: undefined, log: silentLogger() });
    await ours.start(snapshotOf(networks, records));
    await ours.serve(NET, `/run/netns/${SRV}`, OURS);
    // new threads inherit the mask, but pin again in case the worker started elsewhere
    run('taskset', '-a', '-cp', '0', String(process.pid));

    const dnsmasqVersion = run('dnsmasq', '--version').split('\n')[0] ?? 'dnsmasq';
    dnsmasq = spawn('ip', ['netns', 'exec', SRV, 'taskset', '-c', '0', 'dnsmasq', '--keep-in-foreground', '--conf-file=/dev/null', '--user=root',
      '--no-resolv', '--no-hosts', `--addn-hosts=${hostsFile}`, `--listen-address=${DNSMASQ}`, '--bind-interfaces', '--port=53',
      '--local-ttl=5', '--cache-size=10000', `--pid-file=${join(dir, 'dnsmasq.pid')}`, '--log-facility=-'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let dnsmasqErr = '';
    dnsmasq.stderr?.on('data', (d: Buffer) => (dnsmasqErr += d.toString()));
    for (let i = 0; ; i++) {
      await new Promise((r) => setTimeout(r, 100));
      try {
        verify(DNSMASQ);
        break;
      } catch (err) {
        if (i > 30) throw new Error(`dnsmasq did not start: ${String(err)}\n${dnsmasqErr}`);
      }
    }
    verify(OURS);
    echo = spawn('ip', ['netns', 'exec', SRV, 'taskset', '-c', '0', process.execPath, '-e', ECHO_SERVER], { stdio: 'ignore' });
    await new Promise((r) => setTimeout(r, 500));

    const runs = Math.max(1, Math.round(QUERIES / NAMES));
    const load0 = loadavg()[0] ?? 0;
    // warm-up (JIT, caches) untimed
    dnsperf(OURS, queryFile, 5);
    dnsperf(DNSMASQ, queryFile, 5);
    dnsperf(ECHO, queryFile, 5);
    type Who = 'ours' | 'dnsmasq' | 'echo';
    const address: Record<Who, string> = { ours: OURS, dnsmasq: DNSMASQ, echo: ECHO };
    const results: Record<Who, PerfResult[]> = { ours: [], dnsmasq: [], echo: [] };
    const rotations: Who[][] = [['ours', 'dnsmasq', 'echo'], ['dnsmasq', 'echo', 'ours'], ['echo', 'ours', 'dnsmasq']];
    for (let r = 0; r < ROUNDS; r++) {
      const order = rotations[r % rotations.length] as Who[];
      for (const who of order) {
        const res = dnsperf(address[who], queryFile, runs);
        results[who].push(res);
        console.log(`round ${r + 1} ${who}: ${res.qps.toFixed(0)} q/s, ${res.completed} completed, ${res.lost} lost`);
      }
    }
    const load1 = loadavg()[0] ?? 0;

    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;
    const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
    const row = (label: string, rs: PerfResult[]) =>
      `| ${label} | ${fmt(median(rs.map((x) => x.qps)))} | ${rs.map((x) => fmt(x.qps)).join(' / ')} | ${median(rs.map((x) => x.latencyMs)).toFixed(3)} | ${rs.reduce((a, x) => a + x.lost, 0)} |`;
    const ratio = median(results.ours.map((x) => x.qps)) / median(results.dnsmasq.map((x) => x.qps));
    const perRound = results.ours.map((x, i) => (x.qps / (results.dnsmasq[i]?.qps ?? NaN)).toFixed(2)).join(' / ');
    const md = `# Embedded DNS: internal A answers per second on one core, vxnet vs dnsmasq

Command: \`node bench/dist/dns.js ${ROUNDS} ${QUERIES}\` (after \`npx tsc -b\`, as root)
Date: ${new Date().toISOString()}
Setup: Node ${process.version}, ${dnsmasqVersion.replace(/\s+Copyright.*$/, '')}, dnsperf 2.10 (Debian); ${cpus().length} CPUs (${cpus()[0]?.model ?? '?'}).
One "network" namespace (br0 with ${OURS}/16 for vxnet, ${DNSMASQ}/16 for dnsmasq, ${ECHO}/16 for the echo reference) and one client
namespace (${CLIENT}, veth to br0), both made by the bench and deleted after. ${NAMES} names c0…c${NAMES - 1};
vxnet answers them from a DnsWorker snapshot (Worker thread that entered the namespace, UDP on
${OURS}:53), dnsmasq from an addn-hosts file (\`--no-resolv --no-hosts --local-ttl=5 --bind-interfaces\`).
Load: dnsperf in the client namespace, ${runs} passes over the ${NAMES} names = ${runs * NAMES} A queries per
trial, ${OUTSTANDING} outstanding, UDP, one client socket. Servers pinned to CPU 0 (this Node process with all
its threads; dnsmasq; the echo process), dnsperf to CPU 1. ${ROUNDS} rounds, order rotated, after one untimed warm-up
each. Load average (1 min) ${load0.toFixed(2)} at start, ${load1.toFixed(2)} at end, on a shared machine.

| server | median answers/s | each trial | median latency (ms) | lost |
|---|---:|---|---:|---:|
${row('vxnet DnsWorker (Node worker, wire.ts codec)', results.ours)}
${row(dnsmasqVersion.replace(/ version /, ' ').replace(/\s+Copyright.*$/, ''), results.dnsmasq)}
${row('reference: Node dgram echo, no DNS work (ceiling for any Node UDP server)', results.echo)}

Ratio vxnet / dnsmasq: **${ratio.toFixed(2)}** (ratio of medians; goal ≥ 0.5); per round ${perRound}.
vxnet / Node echo: ${(median(results.ours.map((x) => x.qps)) / median(results.echo.map((x) => x.qps))).toFixed(2)} (how close the DNS work comes to Node's per-datagram cost).
`;
    console.log(`\n${md}`);
    writeReport('dns', md);
  } finally {
    await ours?.stop();
    if (echo?.pid) {
      echo.kill('SIGTERM');
      await new Promise((r) => echo?.once('exit', r).once('error', r));
    }
    if (dnsmasq?.pid) {
      dnsmasq.kill('SIGTERM');
      await new Promise((r) => dnsmasq?.once('exit', r).once('error', r));
    }
    deleteNetns(CLI);
    deleteNetns(SRV);
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
