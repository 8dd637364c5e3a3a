/**
 * Kernel programming rate of the agent's data plane: 1,000 remote hosts (route,
 * permanent neighbour, permanent FDB entry each) into one network namespace
 * made by ensureNetwork, three ways in the same run:
 *   (a) NetlinkDataPlane.ensurePeers (the bulk API: multi-message datagrams),
 *   (b) `ip -n NS -batch -` (routes + neighbours) then `bridge -n NS -batch -`
 *       (FDB), fed on stdin, timed including both process spawns,
 *   (c) NetlinkDataPlane.ensurePeers with one peer per call, one after another
 *       (reference: the cost of programming peers one at a time).
 * Each trial uses a fresh namespace; the order of the methods rotates from round
 * to round so drift hits all alike. The ip-batch lines program exactly the same
 * kernel state (same metric, see routeMetric), and after every trial the kernel
 * is checked: exactly 1,000 routes, neighbours and FDB entries on vxlan0, and
 * listPeers equal to the input.
 *
 *   node bench/dist/agent-programming.js [rounds]     (default 5; needs root)
 *
 * Prints a markdown table and writes it to bench/results/agent-programming.md.
 */
import { execFileSync, spawn } from 'node:child_process';
import { loadavg } from 'node:os';
import { NetlinkDataPlane, type NetworkPlaneSpec, type Peer } from '@vxnet/agent';
import { deleteNetns, ensureNetns, listNetns } from '@vxnet/netns';
import { ms, time, writeReport } from './lib/stats.js';

const ROUNDS = Number(process.argv[2] ?? 5);
const PEERS = 1000;
const PREFIX = `vxbp${process.pid}-`;

type Method = 'netlink' | 'ipbatch' | 'loop';
const METHODS: Method[] = ['netlink', 'ipbatch', 'loop'];
const LABEL: Record<Method, string> = {
  netlink: '(a) ensurePeers (netlink bulk)',
  ipbatch: '(b) ip -batch + bridge -batch',
  loop: '(c) ensurePeers of one peer × 1000 (sequential)',
};

function ip(...args: string[]): string {
  return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function peer(i: number): Peer {
  const second = 16 + (i >> 8);
  const third = i & 255;
  return {
    subnet: `10.${second}.${third}.0/24`,
    vtepIp: `10.${second}.${third}.0`,
    vtepMac: `0a:00:00:00:${((i >> 8) & 255).toString(16).padStart(2, '0')}:${third.toString(16).padStart(2, '0')}`,
    underlayIp: `203.0.113.${(i % 250) + 1}`,
  };
}

/** routeMetric: the subnet's network address as a u32. */
function metric(p: Peer): number {
  return p.vtepIp.split('.').reduce((acc, o) => acc * 256 + Number(o), 0);
}

/** Runs `cmd args` with `input` on stdin; rejects on a non-zero exit or any stderr. */
function feed(cmd: string, args: string[], input: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 && !err ? resolve() : reject(new Error(`${cmd} ${args.join(' ')} exited ${code}: ${err.slice(0, 500)}`))));
    child.stdin.end(input);
  });
}

function count(json: string): number {
  const out = json.trim();
  return out ? (JSON.parse(out) as unknown[]).length : 0;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('the programming benchmark creates network namespaces and needs root');
  const peers = Array.from({ length: PEERS }, (_, i) => peer(i));
  const sorted = [...peers].sort((a, b) => (a.subnet < b.subnet ? -1 : a.subnet > b.subnet ? 1 : 0));
  const ipLines = peers
    .map((p) => `route replace ${p.subnet} via ${p.vtepIp} dev vxlan0 onlink metric ${metric(p)}\nneigh replace ${p.vtepIp} lladdr ${p.vtepMac} dev vxlan0 nud permanent\n`)
    .join('');
  const bridgeLines = peers.map((p) => `fdb replace ${p.vtepMac} dev vxlan0 dst ${p.underlayIp} self permanent\n`).join('');

  const host = `${PREFIX}host`;
  ensureNetns(host);
  ip('-n', host, 'link', 'set', 'lo', 'up');
  ip('-n', host, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth0p');
  ip('-n', host, 'addr', 'add', '198.51.100.1/24', 'dev', 'eth0');
  ip('-n', host, 'link', 'set', 'eth0', 'up');
  const dp = new NetlinkDataPlane({ agentNetns: host });
  const load0 = loadavg()[0]!;

  // Every namespace is made before the first timed trial and deleted after the
  // last: the kernel frees a deleted namespace later, in a worker holding the
  // rtnl lock, and that cleanup overlapping a trial made it 3-10x slower.
  const TRIALS = (ROUNDS + 1) * METHODS.length;
  const specs: NetworkPlaneSpec[] = [];
  for (let i = 1; i <= TRIALS; i++) {
    const spec: NetworkPlaneSpec = {
      netns: `${PREFIX}t${i}`,
      vni: 1000 + i,
      hostSubnet: '10.15.0.0/24',
      gateway: '10.15.0.1',
      vtepIp: '10.15.0.0',
      mtu: 1450,
      underlayIp: '198.51.100.1',
      underlayDevice: 'eth0',
    };
    await dp.ensureNetwork(spec);
    specs.push(spec);
  }
  await new Promise((resolve) => setTimeout(resolve, 1000));

  let trial = 0;
  const run = async (method: Method): Promise<number> => {
    const ns = specs[trial++]!.netns;
    let elapsed: number;    if (method === 'netlink') elapsed = await time(() => dp.ensurePeers(ns, peers));
    else if (method === 'ipbatch') {
      elapsed = await time(async () => {
        await feed('ip', ['-n', ns, '-batch', '-'], ipLines);
        await feed('bridge', ['-n', ns, '-batch', '-'], bridgeLines);
      });
    } else {
      elapsed = await time(async () => {
        for (const p of peers) await dp.ensurePeers(ns, [p]);
      });
    }
    const routes = count(ip('-j', '-n', ns, 'route', 'show', 'dev', 'vxlan0'));
    const neighbours = count(ip('-j', '-n', ns, 'neigh', 'show', 'dev', 'vxlan0', 'nud', 'permanent'));
    const fdb = count(execFileSync('bridge', ['-j', '-n', ns, 'fdb', 'show', 'dev', 'vxlan0'], { encoding: 'utf8' }));
    if (routes !== PEERS || neighbours !== PEERS || fdb !== PEERS) {
      throw new Error(`${method}: kernel holds ${routes} routes, ${neighbours} neighbours, ${fdb} FDB entries; want ${PEERS} each`);
    }
    const listed = await dp.listPeers(ns);
    if (JSON.stringify(listed) !== JSON.stringify(sorted)) throw new Error(`${method}: listPeers differs from the peers programmed`);
    return elapsed;
  };

  const warm: Record<Method, number> = { netlink: 0, ipbatch: 0, loop: 0 };
  const samples: Record<Method, number[]> = { netlink: [], ipbatch: [], loop: [] };
  try {
    for (const m of METHODS) warm[m] = await run(m);
    for (let r = 0; r < ROUNDS; r++) {
      const order = METHODS.map((_, i) => METHODS[(i + r) % METHODS.length]!);
      for (const m of order) samples[m].push(await run(m));
      console.log(`round ${r + 1}: ${METHODS.map((m) => `${m} ${ms(samples[m][r]!)} ms`).join(', ')}`);
    }
  } finally {
    for (const spec of specs) await dp.deleteNetwork(spec.netns).catch(() => undefined);
    dp.close();
    for (const ns of listNetns(PREFIX)) deleteNetns(ns);
  }
  const load1 = loadavg()[0]!;

  const med = (m: Method) => median(samples[m]);
  const ratios = samples.ipbatch.map((b, i) => b / samples.netlink[i]!);
  const rows = METHODS.map(
    (m) =>
      `| ${LABEL[m]} | ${ms(med(m))} | ${samples[m].map(ms).join(' / ')} | ${ms(warm[m])} | ${Math.round((PEERS * 3) / (med(m) / 1000)).toLocaleString('en-US')} |`,
  );
  const iproute = execFileSync('ip', ['-V'], { encoding: 'utf8' }).trim();
  const md = `# Data plane programming rate: 1,000 remote hosts into one namespace

Command: \`node bench/dist/agent-programming.js ${ROUNDS}\` (after \`npx tsc -b\`, as root)
Date: ${new Date().toISOString()}
Setup: Node ${process.version}, kernel ${execFileSync('uname', ['-r'], { encoding: 'utf8' }).trim()}, ${iproute}; one scratch host namespace
(veth underlay 198.51.100.1/24); per trial a fresh network namespace from ensureNetwork (br0 + vxlan0; all
made before the first trial, deleted after the last, so no namespace cleanup overlaps a trial),
then ${PEERS} peers = ${PEERS * 3} kernel entries (route \`onlink metric M\`, permanent neighbour, permanent
self FDB entry). ${ROUNDS} rounds, method order rotated each round, after one untimed warm-up trial per method.
Every trial verified: ${PEERS} routes, ${PEERS} permanent neighbours and ${PEERS} FDB entries on vxlan0
(\`ip -j\`/\`bridge -j\` counts) and listPeers equal to the input. Load average (1 min) ${load0.toFixed(2)} at
start, ${load1.toFixed(2)} at end, on a shared 2-core machine (other sessions' tests were running).

| method | median (ms) | each run (ms) | warm-up (ms) | entries/s (median) |
|---|---:|---|---:|---:|
${rows.join('\n')}

ip-batch / netlink: **${(med('ipbatch') / med('netlink')).toFixed(2)}×** (ratio of medians); per round ${ratios.map((r) => r.toFixed(2)).join(' / ')}.
one-peer loop / netlink: ${(med('loop') / med('netlink')).toFixed(2)}×.
`;
  console.log(`\n${md}`);
  writeReport('agent-programming', md);
}

main().catch((err) => {
  console.error(err);
  for (const ns of listNetns(PREFIX)) deleteNetns(ns);
  process.exit(1);
});
