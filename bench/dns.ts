/**
 * Embedded DNS throughput under the load shape of issue 15 (dnsperf, one client
 * socket, 100 queries in flight, from a client namespace, nothing pinned: the shape
 * Docker's embedded DNS was measured with, `dnsperf -c1 -q100 -l5`), in one run:
 *
 * - vxnet: DnsWorker as the agent runs it (defaultDnsThreads() threads, one
 *   SO_REUSEPORT group);
 * - vxnet with other thread counts (`--threads 1,3`: 1 is the single-socket path with
 *   the same per-query path);
 * - before: with `--baseline REF`, the DnsWorker of git revision REF (its
 *   packages/agent/src/dns/*.ts transpiled into bench/out/), e.g. `--baseline issue14`;
 * - dnsmasq serving the same names from an addn-hosts file (single-threaded, C);
 * - a Node dgram echo: one fixed A answer per query, no DNS work (the ceiling of one
 *   Node thread's per-datagram cost).
 *
 * Setup, all in namespaces made here: a "network" namespace with br0 holding one
 * address per server, a "client" namespace with eth0 10.77.0.2/16 on a veth to br0.
 * 1,000 container names c0…c999, the query file the 1,000 names (dnsperf loops over
 * it). Rounds rotate the order of the servers; medians are quoted.
 *
 *   node bench/dist/dns.js [--rounds N] [--seconds S] [--threads LIST] [--baseline REF]
 *   (default 5 rounds of 5 s per server, threads 1,2; needs root, dnsperf and dnsmasq)
 *
 * Prints a markdown table and writes bench/results/dns.md.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { DnsWorker, defaultDnsThreads, snapshotOf, type DnsSnapshot } from '@vxnet/agent';
import { deleteNetns, ensureNetns } from '@vxnet/netns';
import { silentLogger, type EndpointRecord, type NetworkSpec } from '@vxnet/common';
import { writeReport } from './lib/stats.js';

const { values: args } = parseArgs({
  options: {
    rounds: { type: 'string', default: '5' },
    seconds: { type: 'string', default: '5' },
    baseline: { type: 'string' },
    threads: { type: 'string', default: '1,2' },
  },
});
const ROUNDS = Number(args.rounds);
const SECONDS = Number(args.seconds);
const NAMES = 1000;
const IN_FLIGHT = 100;
/** Docker 20.10's embedded DNS on this machine kind, same load shape (issue 15's table). */
const DOCKER_QPS = 52_900;
const GOAL_VS_DOCKER = 1.5;
const PREFIX = `vxbd${process.pid}`;
const SRV = `${PREFIX}-s`;
const CLI = `${PREFIX}-c`;
const CLIENT = '10.77.0.2';
const NET = 'b'.repeat(64);

/** 'vxnet' (the default thread count), `vxnet${N}` (N threads), 'before', 'dnsmasq', 'echo' */
type Who = string;
const OTHER_THREADS = args.threads.split(',').map(Number).filter((n) => n >= 1 && n !== defaultDnsThreads());
const ADDRESS: Record<Who, string> = { vxnet: '10.77.0.1', dnsmasq: '10.77.0.3', echo: '10.77.0.4', before: '10.77.0.5' };
for (const n of OTHER_THREADS) ADDRESS[`vxnet${n}`] = `10.77.1.${n}`;
const addr = (w: Who): string => ADDRESS[w] as string;

/**
 * The ceiling for one Node thread serving UDP: answers every query with one fixed A
 * record (the query's bytes + 16), no decoding, no lookup.
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
s.bind(53, '${addr('echo')}');
`;

function run(cmd: string, ...argv: string[]): string {
  return execFileSync(cmd, argv, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function nameIp(i: number): string {
  return `10.77.${4 + Math.floor(i / 250)}.${(i % 250) + 1}`;
}

interface PerfResult { qps: number; completed: number; lost: number; latencyMs: number }

function dnsperf(server: string, file: string, seconds: number): PerfResult {
  const out = run('ip', 'netns', 'exec', CLI, 'dnsperf', '-s', server, '-d', file, '-c', '1', '-q', String(IN_FLIGHT), '-l', String(seconds), '-t', '2');
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

interface AnyDnsWorker {
  start(snapshot: DnsSnapshot): Promise<void>;
  serve(networkId: string, netnsPath: string, address: string): Promise<void>;
  stop(): Promise<void>;
}

/**
 * The DnsWorker class of git revision `ref`: its packages/agent/src/dns/*.ts,
 * transpiled (no type check) into bench/out/dns-baseline-REF/, where the packages'
 * bare imports (@vxnet/netns, dns-packet) resolve from this checkout's node_modules.
 */
async function baselineWorker(ref: string): Promise<new (o: { ttl: number; forwarder: undefined; log: ReturnType<typeof silentLogger> }) => AnyDnsWorker> {
  const dir = fileURLToPath(new URL(`../out/dns-baseline-${ref.replace(/[^\w.-]/g, '_')}/`, import.meta.url));
  mkdirSync(dir, { recursive: true });
  const { default: ts } = await import('typescript');
  const files = run('git', 'ls-tree', '--name-only', `${ref}:packages/agent/src/dns/`).split('\n').filter((f) => f.endsWith('.ts'));
  for (const f of files) {
    const src = run('git', 'show', `${ref}:packages/agent/src/dns/${f}`);
    const js = ts.transpileModule(src, { compilerOptions: { module: ts.ModuleKind.ES2022, target: ts.ScriptTarget.ES2022 }, fileName: f }).outputText;
    writeFileSync(join(dir, f.replace(/\.ts$/, '.js')), js);
  }
  const mod = (await import(pathToFileURL(join(dir, 'dns-server.js')).href)) as { DnsWorker: new (o: object) => AnyDnsWorker };
  return mod.DnsWorker;
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('needs root');
  const dir = mkdtempSync(join(tmpdir(), 'vxnet-bench-dns-'));
  let dnsmasq: ChildProcess | undefined;
  let echo: ChildProcess | undefined;
  const workers: AnyDnsWorker[] = [];
  const baselineRev = args.baseline ? run('git', 'rev-parse', '--short', args.baseline).trim() : undefined;
  const Before = args.baseline ? await baselineWorker(args.baseline) : undefined;
  try {
    ensureNetns(SRV);
    ensureNetns(CLI);
    run('ip', '-n', SRV, 'link', 'set', 'lo', 'up');
    run('ip', '-n', CLI, 'link', 'set', 'lo', 'up');
    run('ip', '-n', SRV, 'link', 'add', 'br0', 'type', 'bridge');
    for (const a of Object.values(ADDRESS)) run('ip', '-n', SRV, 'addr', 'add', `${a}/16`, 'dev', 'br0');
    run('ip', '-n', SRV, 'link', 'set', 'br0', 'up');
    run('ip', '-n', SRV, 'link', 'add', 'vc0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', CLI);
    run('ip', '-n', SRV, 'link', 'set', 'vc0', 'master', 'br0', 'up');
    run('ip', '-n', CLI, 'addr', 'add', `${CLIENT}/16`, 'dev', 'eth0');
    run('ip', '-n', CLI, 'link', 'set', 'eth0', 'up');

    // the same names every way
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
    const snapshot = snapshotOf(networks, records);
    const hostsFile = join(dir, 'hosts');
    const queryFile = join(dir, 'queries');
    writeFileSync(hostsFile, `${hosts.join('\n')}\n`);
    writeFileSync(queryFile, `${queries.join('\n')}\n`);

    const threads = defaultDnsThreads();
    const serveWith = async (w: AnyDnsWorker, address: string) => {
      workers.push(w);
      await w.start(snapshot);
      await w.serve(NET, `/run/netns/${SRV}`, address);
    };
    await serveWith(new DnsWorker({ ttl: 5, threads, forwarder: undefined, log: silentLogger() }), addr('vxnet'));
    for (const n of OTHER_THREADS) await serveWith(new DnsWorker({ ttl: 5, threads: n, forwarder: undefined, log: silentLogger() }), addr(`vxnet${n}`));
    if (Before) await serveWith(new Before({ ttl: 5, forwarder: undefined, log: silentLogger() }), addr('before'));

    const dnsmasqVersion = (run('dnsmasq', '--version').split('\n')[0] ?? 'dnsmasq').replace(/ version /, ' ').replace(/\s+Copyright.*$/, '');
    dnsmasq = spawn('ip', ['netns', 'exec', SRV, 'dnsmasq', '--keep-in-foreground', '--conf-file=/dev/null', '--user=root',
      '--no-resolv', '--no-hosts', `--addn-hosts=${hostsFile}`, `--listen-address=${addr('dnsmasq')}`, '--bind-interfaces', '--port=53',
      '--local-ttl=5', '--cache-size=10000', `--pid-file=${join(dir, 'dnsmasq.pid')}`, '--log-facility=-'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let dnsmasqErr = '';
    dnsmasq.stderr?.on('data', (d: Buffer) => (dnsmasqErr += d.toString()));
    echo = spawn('ip', ['netns', 'exec', SRV, process.execPath, '-e', ECHO_SERVER], { stdio: 'ignore' });
    for (let i = 0; ; i++) {
      await new Promise((r) => setTimeout(r, 100));
      try {
        verify(addr('dnsmasq'));
        break;
      } catch (err) {
        if (i > 30) throw new Error(`dnsmasq did not start: ${String(err)}\n${dnsmasqErr}`);
      }
    }
    verify(addr('vxnet'));
    for (const n of OTHER_THREADS) verify(addr(`vxnet${n}`));
    if (Before) verify(addr('before'));

    const who: Who[] = ['vxnet', ...(Before ? ['before'] : []), ...OTHER_THREADS.map((n) => `vxnet${n}`), 'dnsmasq', 'echo'];
    const load0 = loadavg()[0] ?? 0;
    // warm-up (JIT, caches) untimed
    for (const w of who) dnsperf(addr(w), queryFile, 1);
    const results: Record<Who, PerfResult[]> = Object.fromEntries(who.map((w) => [w, [] as PerfResult[]]));
    for (let r = 0; r < ROUNDS; r++) {
      const order = [...who.slice(r % who.length), ...who.slice(0, r % who.length)];
      for (const w of order) {
        const res = dnsperf(addr(w), queryFile, SECONDS);
        results[w]?.push(res);
        console.log(`round ${r + 1} ${w}: ${res.qps.toFixed(0)} q/s, ${res.completed} completed, ${res.lost} lost, load ${(loadavg()[0] ?? 0).toFixed(2)}`);
      }
    }
    const load1 = loadavg()[0] ?? 0;

    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;
    const med = (w: Who) => median((results[w] ?? []).map((x) => x.qps));
    const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
    const perRound = (a: Who, b: Who) => (results[a] ?? []).map((x, i) => (x.qps / (results[b]?.[i]?.qps ?? NaN)).toFixed(2)).join(' / ');
    const threadsLabel = (n: number) => (n === 1 ? '1 thread (one exclusive socket)' : `${n} threads (SO_REUSEPORT, random spread)`);
    const label: Record<Who, string> = {
      vxnet: `**vxnet DnsWorker, ${threadsLabel(threads)}: as the agent runs it**`,
      before: `before: DnsWorker of ${args.baseline} (${baselineRev}), one thread`,
      dnsmasq: `${dnsmasqVersion} (one thread, C)`,
      echo: 'reference: Node dgram echo, no DNS work (one Node thread\'s ceiling)',
    };
    for (const n of OTHER_THREADS) label[`vxnet${n}`] = `vxnet DnsWorker, ${threadsLabel(n)}`;
    const row = (w: Who) => {
      const rs = results[w] ?? [];
      return `| ${label[w]} | ${fmt(med(w))} | ${rs.map((x) => fmt(x.qps)).join(' / ')} | ${median(rs.map((x) => x.latencyMs)).toFixed(3)} | ${rs.reduce((a, x) => a + x.lost, 0)} |`;
    };
    const goal = GOAL_VS_DOCKER * DOCKER_QPS;
    const verdict = (ok: boolean) => (ok ? '**met**' : '**not met**');
    const md = `# Embedded DNS: answers per second, dnsperf with ≤ ${IN_FLIGHT} in flight from a client namespace

Command: \`node bench/dist/dns.js --rounds ${ROUNDS} --seconds ${SECONDS} --threads ${args.threads}${args.baseline ? ` --baseline ${args.baseline}` : ''}\` (after \`npx tsc -b\`, as root; \`npm run bench -- dns\` runs it without a baseline)
Date: ${new Date().toISOString()}
Setup: Node ${process.version}, ${dnsmasqVersion}, dnsperf 2.10 (Debian); ${cpus().length} CPUs (${cpus()[0]?.model ?? '?'}), nothing pinned.
One "network" namespace (br0 holding one address per server) and one client namespace (${CLIENT}, veth to br0), both made by
the bench and deleted after. ${NAMES} names c0…c${NAMES - 1}: vxnet answers them from a DnsWorker snapshot (worker threads that
entered the namespace), dnsmasq from an addn-hosts file (\`--no-resolv --no-hosts --local-ttl=5 --bind-interfaces\`).
Load: issue 15's shape, \`dnsperf -c 1 -q ${IN_FLIGHT} -l ${SECONDS}\` in the client namespace over the ${NAMES} names (A, UDP,
one client socket). ${ROUNDS} rounds, order rotated, after one untimed 1 s warm-up each. dnsperf shares the ${cpus().length} CPUs with the
server, as in a container on a host. Load average (1 min) ${load0.toFixed(2)} at start, ${load1.toFixed(2)} at end, on a shared machine.

| server | median answers/s | each trial | median latency (ms) | lost |
|---|---:|---|---:|---:|
${who.map(row).join('\n')}

- Goal (issue 15): vxnet ≥ ${GOAL_VS_DOCKER} × Docker's ${fmt(DOCKER_QPS)}/s = ${fmt(goal)}/s: ${fmt(med('vxnet'))}/s, ${verdict(med('vxnet') >= goal)}
  (Docker's figure is from issue 15's table, same machine kind and load shape; \`bench:compare\` measures both in one run).
- vxnet / dnsmasq: **${(med('vxnet') / med('dnsmasq')).toFixed(2)}** (ratio of medians; per round ${perRound('vxnet', 'dnsmasq')}).
${OTHER_THREADS.map((n) => `- ${threads} thread${threads > 1 ? 's' : ''} / ${n}: ${(med('vxnet') / med(`vxnet${n}`)).toFixed(2)} (per round ${perRound('vxnet', `vxnet${n}`)}).\n`).join('')}${Before ? `- vxnet now / before (${args.baseline}): **${(med('vxnet') / med('before')).toFixed(2)}** (per round ${perRound('vxnet', 'before')})${OTHER_THREADS.includes(1) ? `; 1 thread now / before: ${(med('vxnet1') / med('before')).toFixed(2)}` : ''}.\n` : ''}${OTHER_THREADS.includes(1) ? `- vxnet 1 thread / Node echo: ${(med('vxnet1') / med('echo')).toFixed(2)} (how close one thread's DNS work comes to Node's per-datagram cost).\n` : ''}`;
    console.log(`\n${md}`);
    writeReport('dns', md);
  } finally {
    for (const w of workers) await w.stop();
    for (const p of [echo, dnsmasq]) {
      if (!p?.pid || p.exitCode !== null) continue;
      p.kill('SIGTERM');
      await new Promise((r) => p.once('exit', r).once('error', r));
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
