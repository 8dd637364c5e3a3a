/**
 * The overlay data plane against the underlay it rides on, in one run (issue 15):
 *   - TCP throughput, iperf3 one stream: container h2 -> container h1 over the overlay
 *     against h2's host namespace -> h1's host namespace over the underlay;
 *     goal overlay/underlay >= 0.85 (Docker's swarm overlay here: 0.81, anchor row d);
 *   - RTT, ping (the same binary for both: iputils from the host, run in either
 *     namespace), 20 ms apart, container <-> container against host <-> host;
 *     goal overlay/underlay <= 1.3 (medians of every single ping).
 * Underlay and overlay alternate (the order flips every round), medians over the
 * rounds; each round's own ratio is printed too, so a drift of the machine's load
 * shows. Without --try, two more legs are pinged in the same rounds to show where
 * the overlay's RTT goes: the VXLAN leg alone (network namespace -> remote VTEP
 * address) and the local leg alone (container -> its gateway on br0). Options:
 *   --rounds N     rounds (default 8)           --seconds S   iperf3 time (default 4)
 *   --pings N      pings per path per round (default 60, 20 ms apart)
 *   --try KNOB     a third path: the overlay with KNOB applied on both hosts before
 *                  each of its runs and reverted after (paired A/B; see KNOBS)
 *   --profile      perf record -a -g during one extra run of each path; the top
 *                  kernel symbols of the iperf3 processes go into the report
 *                  (needs `perf`, Debian linux-perf)
 * Writes bench/results/dataplane.md, or dataplane-try-KNOB.md with --try; the main
 * report also lists every dataplane-try-*.md found (settings measured, not kept).
 *
 *   node bench/dist/dataplane.js   (root; iperf3, ethtool: npm run bench -- dataplane)
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { ms, summarize, writeReport } from './lib/stats.js';

const VXNET = fileURLToPath(new URL('../../packages/cli/bin/vxnet.js', import.meta.url));
const THROUGHPUT_GOAL = 0.85;
const RTT_GOAL = 1.3;
const median = (xs: number[]): number => summarize(xs).p50;

/** How one host of the lab is reached, and the overlay's pieces on it. */
interface HostCtx {
  /** Runs argv in the host's network and mount namespaces. */
  run(args: string[]): string;
  /** Runs argv in namespace file `ns` (seen from the host's mount namespace). */
  inNs(ns: string, args: string[]): string;
  /** The network's namespace file on this host, e.g. /run/netns/vxnet-0123456789ab. */
  networkNs: string;
  /** The container's namespace file. */
  containerNs: string;
  /** The container veth's end on br0 in the network namespace. */
  vethHostEnd: string;
  underlayIp: string;
}

/** A setting tried with --try: applied on every host, reverted after each run. */
interface Knob {
  what: string;
  on(h: HostCtx): void;
  off(h: HostCtx): void;
}

const sysctl = (h: HostCtx, ns: string, kv: string[]) => h.inNs(ns, ['sysctl', '-q', '-w', ...kv]);
const brnf = (v: number) => ['bridge-nf-call-iptables', 'bridge-nf-call-ip6tables', 'bridge-nf-call-arptables'].map((k) => `net.bridge.${k}=${v}`);
const NOTRACK_TABLE = 'vxdpbench';

const KNOBS: Record<string, Knob> = {
  'brnf-off': {
    what: 'net.bridge.bridge-nf-call-{iptables,ip6tables,arptables}=0 in the network namespace (br_netfilter is built in; 1 is the per-namespace default)',
    on: (h) => sysctl(h, h.networkNs, brnf(0)),
    off: (h) => sysctl(h, h.networkNs, brnf(1)),
  },
  'veth-gro': {
    what: 'ethtool -K … gro on for both ends of the container veth (NAPI GRO on veth, no XDP)',
    on: (h) => {
      h.inNs(h.containerNs, ['ethtool', '-K', 'eth0', 'gro', 'on']);
      h.inNs(h.networkNs, ['ethtool', '-K', h.vethHostEnd, 'gro', 'on']);
    },
    off: (h) => {
      h.inNs(h.containerNs, ['ethtool', '-K', 'eth0', 'gro', 'off']);
      h.inNs(h.networkNs, ['ethtool', '-K', h.vethHostEnd, 'gro', 'off']);
    },
  },
  'vxlan-gro-off': {
    what: 'ethtool -K vxlan0 gro off (the decapsulated packets skip gro_cells)',
    on: (h) => h.inNs(h.networkNs, ['ethtool', '-K', 'vxlan0', 'gro', 'off']),
    off: (h) => h.inNs(h.networkNs, ['ethtool', '-K', 'vxlan0', 'gro', 'on']),
  },
  notrack: {
    what: 'nft: notrack for UDP 4789 in the host namespace (raw prerouting and output)',
    on: (h) => {
      h.run(['nft', 'add', 'table', 'ip', NOTRACK_TABLE]);
      for (const [chain, hook] of [['pre', 'prerouting'], ['out', 'output']]) {
        h.run(['nft', 'add', 'chain', 'ip', NOTRACK_TABLE, chain!, `{ type filter hook ${hook} priority raw; }`]);
        h.run(['nft', 'add', 'rule', 'ip', NOTRACK_TABLE, chain!, 'udp', 'dport', '4789', 'notrack']);
      }
    },
    off: (h) => h.run(['nft', 'delete', 'table', 'ip', NOTRACK_TABLE]),
  },
};

type Path = 'underlay' | 'overlay' | 'tried';

async function main(): Promise<void> {
  const { values: opt } = parseArgs({
    options: {
      rounds: { type: 'string', default: '8' },
      seconds: { type: 'string', default: '4' },
      pings: { type: 'string', default: '60' },
      try: { type: 'string' },
      profile: { type: 'boolean', default: false },
    },
  });
  const rounds = Number(opt.rounds);
  const seconds = Number(opt.seconds);
  const pings = Number(opt.pings);
  for (const [name, v] of [['--rounds', rounds], ['--seconds', seconds], ['--pings', pings]] as const) {
    if (!Number.isInteger(v) || v < 1) throw new Error(`invalid ${name} ${String(v)}: a whole number ≥ 1`);
  }
  const knob = opt.try === undefined ? undefined : KNOBS[opt.try];
  if (opt.try !== undefined && !knob) throw new Error(`unknown --try ${opt.try}: one of ${Object.keys(KNOBS).join(', ')}`);
  if (process.getuid?.() !== 0) throw new Error('this benchmark runs in a lab and needs root');

  const home = mkdtempSync(join(tmpdir(), 'vxnet-bench-dataplane-'));
  const env = { ...process.env, VXNET_HOME: home };
  const lab = `dp-${process.pid.toString(36)}`;
  const vx = (...args: string[]) => execFileSync(process.execPath, [VXNET, ...args], { env, encoding: 'utf8' });
  const servers: ChildProcess[] = [];
  const hosts: HostCtx[] = [];
  let knobOn = false;
  const loadBefore = loadavg()[0]!;
  try {
    vx('lab', 'up', '--name', lab, '--hosts', '2');
    vx('net', 'create', 'dp');
    const state = JSON.parse(readFileSync(join(home, 'labs', lab, 'lab.json'), 'utf8')) as { hosts: Array<{ keeper: { pid: number }; underlayIp: string }> };
    for (const [i, name] of ['h1', 'h2'].entries()) {
      const pid = state.hosts[i]!.keeper.pid;
      const run = (args: string[]) => execFileSync('nsenter', [`--net=/proc/${pid}/ns/net`, `--mount=/proc/${pid}/ns/mnt`, '--', ...args], { encoding: 'utf8' });
      const inNs = (ns: string, args: string[]) => run(['nsenter', `--net=${ns}`, '--', ...args]);
      const id = vx('-H', name, 'run', '-d', '--name', `c-${name}`, '--net', 'dp', 'busybox').trim();
      const networkNs = run(['ip', 'netns', 'list']).split('\n').map((l) => l.split(' ')[0]!).find((n) => /^vxnet-[0-9a-f]{12}$/.test(n));
      if (!networkNs) throw new Error(`no network namespace on ${name}`);
      const nsPath = `/run/netns/${networkNs}`;
      const vethHostEnd = inNs(nsPath, ['ip', '-o', 'link', 'show', 'master', 'br0', 'type', 'veth']).split(': ')[1]?.split('@')[0];
      if (!vethHostEnd) throw new Error(`no container veth on br0 on ${name}`);
      hosts.push({ run, inNs, networkNs: nsPath, containerNs: `/run/netns/vxnet-s-${id.slice(0, 12)}`, vethHostEnd, underlayIp: state.hosts[i]!.underlayIp });
    }
    const [h1, h2] = hosts as [HostCtx, HostCtx];
    const containerIp = /inet (\d+\.\d+\.\d+\.\d+)/.exec(h1.inNs(h1.containerNs, ['ip', '-4', '-o', 'addr', 'show', 'eth0']))?.[1];
    if (!containerIp) throw new Error('the container on h1 has no address');
    // the servers: one in the container on h1, one in h1's host namespace
    const keeper1 = state.hosts[0]!.keeper.pid;
    const spawnOnH1 = (args: string[]) =>
      servers.push(spawn('nsenter', [`--net=/proc/${keeper1}/ns/net`, `--mount=/proc/${keeper1}/ns/mnt`, '--', ...args], { stdio: 'ignore' }));
    spawnOnH1(['nsenter', `--net=${h1.containerNs}`, '--', 'iperf3', '-s']);
    spawnOnH1(['iperf3', '-s', '-B', h1.underlayIp]);
    await sleep(500);

    const client: Record<Path, (args: string[]) => string> = {
      underlay: (args) => h2.run(args),
      overlay: (args) => h2.inNs(h2.containerNs, args),
      tried: (args) => h2.inNs(h2.containerNs, args),
    };
    const target: Record<Path, string> = { underlay: h1.underlayIp, overlay: containerIp, tried: containerIp };
    for (const p of ['underlay', 'overlay'] as const) client[p](['ping', '-c', '3', '-W', '2', target[p]]);
    const withKnob = <T>(p: Path, fn: () => T): T => {
      if (p !== 'tried' || !knob) return fn();
      knobOn = true;
      for (const h of hosts) knob.on(h);
      try {
        return fn();
      } finally {
        for (const h of hosts) knob.off(h);
        knobOn = false;
      }
    };
    const iperf = (p: Path) =>
      withKnob(p, () => {
        const r = JSON.parse(client[p](['iperf3', '-c', target[p], '-t', String(seconds), '-J'])) as { end: { sum_received: { bits_per_second: number } } };
        return r.end.sum_received.bits_per_second / 1e9;
      });
    const ping = (p: Path) =>
      withKnob(p, () => {
        const text = client[p](['ping', '-c', String(pings), '-i', '0.02', target[p]]);
        return [...text.matchAll(/time=([\d.]+) ms/g)].map((m) => Number(m[1]));
      });

    // Where the overlay's RTT goes, pinged in the same rounds (without --try): the VXLAN
    // leg alone (h2's network namespace -> h1's VTEP address: encapsulation, underlay,
    // decapsulation, no veth or bridge at either end) and the local leg alone (h2's
    // container -> its gateway on br0: the container veth and the bridge, no VXLAN).
    const addrOf = (h: HostCtx, ns: string, dev: string) => {
      const a = /inet (\d+\.\d+\.\d+\.\d+)/.exec(h.inNs(ns, ['ip', '-4', '-o', 'addr', 'show', dev]))?.[1];
      if (!a) throw new Error(`no address on ${dev} in ${ns}`);
      return a;
    };
    const legs = knob
      ? []
      : [
          { name: 'VXLAN leg: network namespace h2 → VTEP address of h1', run: (a: string[]) => h2.inNs(h2.networkNs, a), target: addrOf(h1, h1.networkNs, 'vxlan0') },
          { name: 'local leg: container h2 → its gateway (veth + br0)', run: (a: string[]) => h2.inNs(h2.containerNs, a), target: addrOf(h2, h2.networkNs, 'br0') },
        ];
    const legRtts = legs.map(() => [] as number[]);
    const pingLeg = (i: number) => {
      const text = legs[i]!.run(['ping', '-c', String(pings), '-i', '0.02', legs[i]!.target]);
      legRtts[i]!.push(...[...text.matchAll(/time=([\d.]+) ms/g)].map((m) => Number(m[1])));
    };
    for (const l of legs) l.run(['ping', '-c', '2', '-W', '2', l.target]);

    const paths: Path[] = knob ? ['underlay', 'overlay', 'tried'] : ['underlay', 'overlay'];
    const tput: Record<Path, number[]> = { underlay: [], overlay: [], tried: [] };
    const rtts: Record<Path, number[]> = { underlay: [], overlay: [], tried: [] };
    const roundRatios: string[] = [];
    for (let r = 0; r < rounds; r++) {
      const order = r % 2 === 0 ? paths : [...paths].reverse();
      const t: Partial<Record<Path, number>> = {};
      for (const p of order) tput[p].push((t[p] = iperf(p)));
      const pr: Partial<Record<Path, number>> = {};
      for (const p of order) {
        const xs = ping(p);
        rtts[p].push(...xs);
        pr[p] = median(xs);
      }
      for (let i = 0; i < legs.length; i++) pingLeg(r % 2 === 0 ? i : legs.length - 1 - i);
      const line =
        `round ${r + 1}: Gbit/s ${paths.map((p) => `${p} ${t[p]!.toFixed(2)}`).join(', ')}; overlay/underlay ${(t.overlay! / t.underlay!).toFixed(2)}` +
        (knob ? `, tried/underlay ${(t.tried! / t.underlay!).toFixed(2)}` : '') +
        `; RTT ms ${paths.map((p) => `${p} ${ms(pr[p]!)}`).join(', ')}; load ${loadavg()[0]!.toFixed(1)}`;
      console.log(line);
      roundRatios.push(line);
    }

    let profile: string[] = [];
    if (opt.profile) profile = await profilePaths(client, target, seconds);

    const features = (h: HostCtx, ns: string, dev: string) =>
      h
        .inNs(ns, ['ethtool', '-k', dev])
        .split('\n')
        .filter((l) => /^(generic-receive-offload|generic-segmentation-offload|tcp-segmentation-offload|tx-checksumming|rx-checksumming|tx-udp_tnl-segmentation|rx-gro-hw|tx-udp_tnl-csum-segmentation):/.test(l))
        .map((l) => l.replace(/: /, ' ').replace(/ \[fixed\]/, ' (fixed)'))
        .join(', ');
    const vxlanDetails = h1.inNs(h1.networkNs, ['ip', '-d', 'link', 'show', 'vxlan0']).replace(/\s+/g, ' ').trim();
    const mtuOf = (h: HostCtx, ns: string, dev: string) => / mtu (\d+)/.exec(h.inNs(ns, ['ip', '-o', 'link', 'show', dev]))?.[1] ?? '?';
    const brnfNow = h1.inNs(h1.networkNs, ['sysctl', '-n', 'net.bridge.bridge-nf-call-iptables']).trim();

    // the ratio of the medians, and the median of each round's own ratio (robust to the load drifting between rounds)
    const pairedRatio = (a: number[], b: number[]) => median(a.map((x, i) => x / b[i]!));
    const tRatio = median(tput.overlay) / median(tput.underlay);
    const rRatio = median(rtts.overlay) / median(rtts.underlay);
    const verdict = (ok: boolean) => (ok ? 'met' : 'not met');
    const lines = [
      '| figure | underlay host → host | overlay container → container | overlay / underlay | goal |' + (knob ? ` overlay + ${opt.try} | tried / underlay |` : ''),
      '|---|---:|---:|---:|---|' + (knob ? '---:|---:|' : ''),
      `| TCP throughput, iperf3 1 stream ${seconds} s (Gbit/s, median of ${rounds}) | ${median(tput.underlay).toFixed(2)} | ${median(tput.overlay).toFixed(2)} | ${tRatio.toFixed(2)} | ≥ ${THROUGHPUT_GOAL}: ${verdict(tRatio >= THROUGHPUT_GOAL)} |` +
        (knob ? ` ${median(tput.tried).toFixed(2)} | ${(median(tput.tried) / median(tput.underlay)).toFixed(2)} |` : ''),
      `| RTT, ping every 20 ms (ms, median of ${rtts.underlay.length} single pings) | ${ms(median(rtts.underlay))} | ${ms(median(rtts.overlay))} | ${rRatio.toFixed(2)} | ≤ ${RTT_GOAL}: ${verdict(rRatio <= RTT_GOAL)} |` +
        (knob ? ` ${ms(median(rtts.tried))} | ${(median(rtts.tried) / median(rtts.underlay)).toFixed(2)} |` : ''),
      `| TCP throughput: median of the ${rounds} rounds' own overlay/underlay ratios | | | ${pairedRatio(tput.overlay, tput.underlay).toFixed(2)} | |` +
        (knob ? ` | ${pairedRatio(tput.tried, tput.underlay).toFixed(2)} |` : ''),
      `| MTU | ${mtuOf(h1, '/proc/self/ns/net', 'eth0')} | ${mtuOf(h1, h1.containerNs, 'eth0')} | | |` + (knob ? ' | |' : ''),
    ];
    if (legs.length > 0) {
      lines.push(
        '',
        '| RTT decomposition (same rounds, ms, median of single pings) | RTT | of the overlay\'s |',
        '|---|---:|---:|',
        `| underlay host → host | ${ms(median(rtts.underlay))} | ${(median(rtts.underlay) / median(rtts.overlay)).toFixed(2)} |`,
        ...legs.map((l, i) => `| ${l.name} | ${ms(median(legRtts[i]!))} | ${(median(legRtts[i]!) / median(rtts.overlay)).toFixed(2)} |`),
        `| overlay container → container | ${ms(median(rtts.overlay))} | 1.00 |`,
      );
    }
    const table = lines.join('\n');
    console.log(table);
    const cmd = ['node bench/dist/dataplane.js', ...process.argv.slice(2)].join(' ');
    const report = [
      '# Data plane: overlay container → container against the underlay host → host',
      '',
      `Command: \`${cmd}\` (root, after \`npx tsc -b\`; also \`npm run bench -- dataplane\`)`,
      `Date: ${new Date().toISOString()}`,
      `Setup: a 2-host lab (veth underlay through a bridge, MTU 1500), network \`dp\`, one busybox container per host; iperf3 server in the container on h1 and in h1's host namespace, ` +
        `clients from the container on h2 and from h2's host namespace; ${execFileSync('iperf3', ['--version'], { encoding: 'utf8' }).split('\n')[0]}; ` +
        `ping: iputils (the same binary on both paths). Paths alternate, the order flips every round, ${rounds} rounds. ` +
        `Machine load average (1 min) ${loadBefore.toFixed(1)} before, ${loadavg()[0]!.toFixed(1)} after (2 cores shared with other work).` +
        (knob ? ` Tried: \`${opt.try}\`: ${knob.what}.` : ''),
      'Docker\'s swarm overlay on this machine (anchor, `../shared/anchors/docker/README.md` row d): overlay/underlay 0.81 (median of 3 runs), RTT 0.132 / 0.077 ms.',
      '',
      table,
      '',
      '## Rounds',
      '',
      ...roundRatios.map((l) => `- ${l}`),
      '',
      '## The kernel as the agent set it up (h1)',
      '',
      `- vxlan0: \`${vxlanDetails}\``,
      `- vxlan0 offloads: ${features(h1, h1.networkNs, 'vxlan0')}`,
      `- container veth, network end (${h1.vethHostEnd}): ${features(h1, h1.networkNs, h1.vethHostEnd)}`,
      `- container eth0: ${features(h1, h1.containerNs, 'eth0')}`,
      `- underlay eth0: ${features(h1, '/proc/self/ns/net', 'eth0')}`,
      `- net.bridge.bridge-nf-call-iptables in the network namespace: ${brnfNow}`,
      '',
      ...triedSettings(),
      ...profile,
    ].join('\n');
    writeReport(opt.try ? `dataplane-try-${opt.try}` : 'dataplane', report);
  } finally {
    for (const s of servers) if (s.pid !== undefined) s.kill('SIGTERM');
    // a run that failed with the setting applied: revert it (the lab goes next anyway)
    if (knob && knobOn) {
      for (const h of hosts) {
        try {
          knob.off(h);
        } catch {
          /* the lab is torn down next */
        }
      }
    }
    try {
      vx('lab', 'down', '--name', lab);
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  }
}

/**
 * perf record -a -g during one more run of each path: the kernel symbols that the
 * iperf3 processes and the softirq threads spend their cycles in (the whole packet
 * path runs in their context: the sender's sendmsg carries it up to the receiver's
 * socket). Other work on the machine is filtered out by command name.
 */
/**
 * The settings tried so far (`--try`, each in bench/results/dataplane-try-KNOB.md):
 * their commands, dates and figures, so that this report shows what was measured
 * and not kept.
 */
function triedSettings(): string[] {
  const dir = fileURLToPath(new URL('../results/', import.meta.url));
  const files = readdirSync(dir).filter((f) => /^dataplane-try-.+\.md$/.test(f)).sort();
  if (files.length === 0) return [];
  const out = ['## Settings tried (paired runs: underlay, overlay and overlay + setting alternating)', ''];
  for (const f of files) {
    const text = readFileSync(join(dir, f), 'utf8');
    const keep = text.split('\n').filter((l) => /^(Command:|Date:|\| (figure|TCP throughput|RTT, ping))/.test(l) || /^\|---/.test(l));
    out.push(`### ${f}`, '', ...keep.flatMap((l) => (/^(Command|Date):/.test(l) ? [l, ''] : [l])), '');
  }
  return out;
}

/** The functions whose inclusive cost tells the stages of the packet path apart. */
const STAGES =
  /\] (tcp_sendmsg|tcp_recvmsg|_copy_to_iter|_copy_from_iter|copy_user_enhanced_fast_string|rep_movs_alternative|__dev_queue_xmit|veth_xmit|__netif_receive_skb|process_backlog|br_handle_frame|br_nf_pre_routing|br_nf_post_routing|br_nf_forward_ip|br_forward|ip_forward|ip_rcv|vxlan_xmit|vxlan_rcv|udp_queue_rcv_skb|gro_cell_poll|napi_gro_receive|nf_conntrack_in|nf_hook_slow|nft_do_chain|skb_checksum|csum_partial|do_csum|fib_table_lookup|tcp_v4_rcv|tcp_ack|skb_segment|__skb_gso_segment)\s*$/;

async function profilePaths(client: Record<Path, (a: string[]) => string>, target: Record<Path, string>, seconds: number): Promise<string[]> {
  const out: string[] = ['## Profile', '', `\`perf record -a -g\` during one more ${seconds} s run of each path; self time of kernel and user symbols in the iperf3 and ksoftirqd threads, top 30.`, ''];
  for (const p of ['underlay', 'overlay'] as const) {
    const file = join(tmpdir(), `vxnet-dp-${process.pid}-${p}.data`);
    const rec = spawn('perf', ['record', '-a', '-g', '-q', '-o', file, '--', 'sleep', String(seconds)], { stdio: 'ignore' });
    const recorded = new Promise((resolve) => rec.once('exit', resolve));
    client[p](['iperf3', '-c', target[p], '-t', String(seconds), '-J']);
    // perf stops on its own (sleep SECONDS): wait for it to finish writing before reading
    await recorded;
    out.push(`### ${p}`, '', '```');
    const comms = execFileSync('perf', ['report', '-i', file, '--sort', 'comm', '--stdio', '-g', 'none', '--percent-limit', '2'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    out.push('by command:', ...comms.split('\n').filter((l) => /%/.test(l) && !l.startsWith('#')).map((l) => l.trim()));
    const syms = execFileSync(
      'perf',
      ['report', '-i', file, '--comms', 'iperf3,ksoftirqd/0,ksoftirqd/1', '--percentage', 'relative', '--no-children', '--sort', 'sym', '--stdio', '-g', 'none'],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], maxBuffer: 64 << 20 },
    );
    out.push('', 'symbols (iperf3 + ksoftirqd), self:', ...syms.split('\n').filter((l) => /%/.test(l) && !l.startsWith('#')).slice(0, 30).map((l) => l.trim()));
    const incl = execFileSync(
      'perf',
      ['report', '-i', file, '--comms', 'iperf3,ksoftirqd/0,ksoftirqd/1', '--percentage', 'relative', '--children', '--sort', 'sym', '--stdio', '-g', 'none'],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], maxBuffer: 64 << 20 },
    );
    out.push('', 'stages (iperf3 + ksoftirqd), self + children:', ...incl.split('\n').filter((l) => STAGES.test(l)).map((l) => l.trim()));
    out.push('```', '');
    rmSync(file, { force: true });
  }
  return out;
}

try {
  await main();
} catch (err) {
  console.error(`dataplane: ${(err as Error).message}`);
  process.exitCode = 1;
}
