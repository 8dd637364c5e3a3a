/**
 * Docker with vxnet versus Docker's own overlay, in one 3-host lab with a dockerd per
 * host (`vxnet lab up --docker`, Debian docker.io 20.10), in one run:
 *
 *   vxnet   `vxnet net create`, then on h1 and h2 `docker network create -d vxnet
 *           --ipam-driver vxnet --subnet CIDR vxn` (the agent's Docker plugin)
 *   swarm   `docker swarm init` on h1's dockerd, h2 and h3 join, then
 *           `docker network create -d overlay --attachable ovl` (the anchor:
 *           shared/anchors/docker, 470–490 ms p50 on this machine kind)
 *
 * Per trial: a watcher (lib/waitname.ts) runs in the network namespace of a container
 * on h2 on that network, polling Docker's embedded DNS for a new name every 5 ms and,
 * once it resolves, pinging it every 5 ms; then `docker run -d` of a container with
 * that name on h1. Measured from just before `docker run` starts to the first ping
 * reply on h2 (and to the name resolving, and `docker run` returning). Both networks
 * are warm (a container on each already runs on h1 and h2), trials alternate between
 * them (vxnet first on even trials, swarm first on odd ones). The docker CLI's own
 * start-up is inside every figure, for both.
 *
 * vxnet's network gets VNI 1001: Docker's overlay takes VNIs from 4096 up (ingress is
 * 4096), vxnet's default too, and two VXLAN devices with one VNI and port made from one
 * namespace collide, whichever daemon comes second (seen here with the default 4096:
 * dockerd "Failed creating ingress network: … error creating vxlan interface: file exists").
 *
 *   node bench/dist/docker.js [trials]      (root; docker.io installed: npm run bench -- docker)
 */
import { execFile, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { ms, summarize, writeReport } from './lib/stats.js';

const TRIALS = Number(process.argv[2] ?? 10);
const VXNET = fileURLToPath(new URL('../../packages/cli/bin/vxnet.js', import.meta.url));
const WAITNAME = fileURLToPath(new URL('./lib/waitname.js', import.meta.url));
const DOCKER = '/usr/bin/docker';
const IMAGE = 'vxnet-busybox:latest';
const GOAL = 2;

interface Sample {
  runMs: number;
  resolvedMs: number;
  reachableMs: number;
}

function docker(socket: string, args: string[], timeoutMs = 60_000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(DOCKER, ['-H', `unix://${socket}`, ...args], { timeout: timeoutMs }, (err, stdout, stderr) => {
      if (err) reject(new Error(`docker ${args.join(' ')}: ${stderr.trim() || err.message}`));
      else resolve(stdout.trim());
    });
  });
}

/**
 * Start the watcher for `name` in container `container`'s network namespace (on the
 * host of `socket`); resolves once it polls, with `done`, its result (wrapped: an async
 * function returning a promise would wait for it).
 */
async function watch(socket: string, container: string, name: string): Promise<{ done: Promise<{ resolvedMs: number; reachableMs: number }> }> {
  const pid = await docker(socket, ['inspect', '-f', '{{.State.Pid}}', container]);
  const p = spawn('nsenter', [`--net=/proc/${pid}/ns/net`, '--', process.execPath, WAITNAME, name, '20000'], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  p.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  const done = new Promise<{ resolvedMs: number; reachableMs: number }>((resolve, reject) => {
    p.on('close', () => { // not 'exit': its last line may still be unread then (lib/waitname.ts firstReply)
      const line = out.split('\n').find((l) => l.startsWith('{'));
      const r = line ? (JSON.parse(line) as { resolvedMs?: number; reachableMs?: number; error?: string }) : { error: `watcher printed ${out}` };
      if (r.resolvedMs !== undefined && r.reachableMs !== undefined) resolve({ resolvedMs: r.resolvedMs, reachableMs: r.reachableMs });
      else reject(new Error(`${name}: ${r.error}`));
    });
  });
  while (!out.includes('ready')) {
    if (p.exitCode !== null) break;
    await sleep(5);
  }
  await sleep(300); // as the anchor: the watcher polls a while before the run
  return { done };
}

async function trial(h1: string, h2: string, network: string, watcher: string, name: string): Promise<Sample> {
  const { done } = await watch(h2, watcher, name);
  const t0 = Date.now();
  await docker(h1, ['run', '-d', '--pull', 'never', '--network', network, '--name', name, IMAGE, 'sleep', '3600']);
  const runMs = Date.now() - t0;
  const r = await done;
  process.stderr.write(`${name}: run ${runMs} ms, resolved ${r.resolvedMs - t0} ms, first reply ${(r.reachableMs - t0).toFixed(0)} ms\n`);
  await docker(h1, ['rm', '-f', name]);
  return { runMs, resolvedMs: r.resolvedMs - t0, reachableMs: r.reachableMs - t0 };
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('this benchmark runs in a lab and needs root');
  const home = mkdtempSync(join(tmpdir(), 'vxnet-bench-docker-'));
  const env = { ...process.env, VXNET_HOME: home };
  const lab = `dk-${process.pid.toString(36)}`;
  const vx = (...args: string[]) => execFileSync(process.execPath, [VXNET, ...args], { env, encoding: 'utf8' });
  process.env.DOCKER_CONFIG = join(home, 'docker-cli'); // the docker CLI's config: this run's, not ~/.docker
  const interrupted = (sig: NodeJS.Signals) => {
    process.stderr.write(`${sig}: removing the lab\n`);
    try {
      vx('lab', 'down', '--name', lab);
    } finally {
      rmSync(home, { recursive: true, force: true });
      process.exit(130);
    }
  };
  process.once('SIGINT', interrupted).once('SIGTERM', interrupted);
  try {
    vx('lab', 'up', '--name', lab, '--hosts', '3', '--docker');
    const state = JSON.parse(readFileSync(join(home, 'labs', lab, 'lab.json'), 'utf8')) as { hosts: Array<{ name: string; underlayIp: string; keeper: { pid: number } }> };
    const [h1, h2, h3] = state.hosts.map((h) => `/proc/${h.keeper.pid}/root/run/docker.sock`) as [string, string, string];
    const ip = (i: number) => state.hosts[i]?.underlayIp as string;

    // vxnet's Docker network on h1 and h2
    const net = JSON.parse(vx('net', 'create', '--json', '--vni', '1001', 'vxn')) as { subnet: string };
    for (const s of [h1, h2]) await docker(s, ['network', 'create', '-d', 'vxnet', '--ipam-driver', 'vxnet', '--subnet', net.subnet, 'vxn']);

    // Docker's swarm overlay
    await docker(h1, ['swarm', 'init', '--advertise-addr', ip(0), '--listen-addr', `${ip(0)}:2377`]);
    const token = await docker(h1, ['swarm', 'join-token', '-q', 'worker']);
    for (const [s, i] of [[h2, 1], [h3, 2]] as const) await docker(s, ['swarm', 'join', '--advertise-addr', ip(i), '--listen-addr', `${ip(i)}:2377`, '--token', token, `${ip(0)}:2377`]);
    for (let i = 0; ; i++) {
      const ready = (await docker(h1, ['node', 'ls', '--format', '{{.Status}}'])).split('\n').filter((s) => s === 'Ready').length;
      if (ready === 3) break;
      if (i > 100) throw new Error('swarm: not every node is Ready after 20 s');
      await sleep(200);
    }
    await docker(h1, ['network', 'create', '-d', 'overlay', '--attachable', 'ovl']);

    // warm: a container on each network on h1 (the network is up there) and the watchers' on h2
    const nets = { vxnet: 'vxn', swarm: 'ovl' } as const;
    for (const [kind, n] of Object.entries(nets)) {
      await docker(h1, ['run', '-d', '--pull', 'never', '--network', n, '--name', `warm-${kind}`, IMAGE, 'sleep', '3600']);
      await docker(h2, ['run', '-d', '--pull', 'never', '--network', n, '--name', `watch-${kind}`, IMAGE, 'sleep', '3600']);
    }
    // one untimed round each, then the trials
    for (const kind of ['vxnet', 'swarm'] as const) await trial(h1, h2, nets[kind], `watch-${kind}`, `warmup-${kind}`);

    const samples: Record<'vxnet' | 'swarm', Sample[]> = { vxnet: [], swarm: [] };
    // floors, same run, same image, on h1: `docker run -d` with no network at all, and on a
    // user-defined bridge (Docker's own, one host: the embedded DNS and sandbox work every
    // named network costs, no plugin)
    await docker(h1, ['network', 'create', 'ubr']);
    const floors: Record<'none' | 'ubr', number[]> = { none: [], ubr: [] };
    for (let i = 0; i < TRIALS; i++) {
      const order = i % 2 === 0 ? (['vxnet', 'swarm'] as const) : (['swarm', 'vxnet'] as const);
      for (const kind of order) samples[kind].push(await trial(h1, h2, nets[kind], `watch-${kind}`, `${kind[0]}${i}`));
      for (const n of ['none', 'ubr'] as const) {
        const t0 = Date.now();
        await docker(h1, ['run', '-d', '--pull', 'never', '--network', n, '--name', `${n}${i}`, IMAGE, 'sleep', '3600']);
        floors[n].push(Date.now() - t0);
        await docker(h1, ['rm', '-f', `${n}${i}`]);
      }
    }

    const row = (label: string, pick: (s: Sample) => number) => {
      const v = summarize(samples.vxnet.map(pick));
      const s = summarize(samples.swarm.map(pick));
      return `| ${label} | ${ms(v.p50)} | ${ms(v.p99)} | ${ms(s.p50)} | ${ms(s.p99)} | ${(s.p50 / v.p50).toFixed(2)}× |`;
    };
    const v = summarize(samples.vxnet.map((s) => s.reachableMs));
    const s = summarize(samples.swarm.map((x) => x.reachableMs));
    const floor = summarize(floors.none);
    const ubr = summarize(floors.ubr);
    const met = s.p50 / v.p50 >= GOAL;
    const table = [
      `| from \`docker run -d\` on h1 starting, until … | vxnet p50 (ms) | vxnet p99 (ms) | swarm p50 (ms) | swarm p99 (ms) | swarm / vxnet at p50 |`,
      '|---|---:|---:|---:|---:|---:|',
      row('**the first ping reply by name, in a container on h2**', (x) => x.reachableMs),
      row('the name resolves in that container (127.0.0.11)', (x) => x.resolvedMs),
      row('`docker run -d` returns (the container runs)', (x) => x.runMs),
      `| floor: \`docker run -d --network none\` returns (no network at all) | ${ms(floor.p50)} | ${ms(floor.p99)} | | | |`,
      `| floor: \`docker run -d\` on a user-defined bridge returns (Docker's own, one host) | ${ms(ubr.p50)} | ${ms(ubr.p99)} | | | |`,
    ].join('\n');
    const verdict = `Goal: vxnet at least ${GOAL}× faster than swarm at p50 (first reply by name): **${met ? 'met' : 'not met'}** (${(s.p50 / v.p50).toFixed(2)}×). `
      + `${GOAL}× would be ${ms(s.p50 / GOAL)} ms, against ${ms(floor.p50)} ms for dockerd to start the same container with no network at all and ${ms(ubr.p50)} ms on a user-defined bridge (floor rows, same run); `
      + `vxnet's first reply comes ${ms(v.p50 - summarize(samples.vxnet.map((x) => x.runMs)).p50)} ms after its \`docker run\` returns (p50s).`;
    console.log(`${table}\n\n${verdict}`);
    const version = execFileSync('/usr/sbin/dockerd', ['--version'], { encoding: 'utf8' }).trim();
    writeReport('docker', [
      '# Docker: `docker run` to the first ping reply by name from another host, vxnet\'s Docker network vs Docker\'s swarm overlay',
      '',
      `Command: \`node bench/dist/docker.js${process.argv[2] ? ` ${process.argv[2]}` : ''}\` (root; after \`npm run build\`; \`npm run bench -- docker\` installs docker.io first)`,
      `Date: ${new Date().toISOString()}`,
      `Setup: one 3-host lab with a dockerd per host (\`vxnet lab up --docker\`; ${version}), image ${IMAGE} imported from a tarball, ${TRIALS} trials per network, alternating. `
        + 'vxnet: `vxnet net create --vni 1001 vxn`, then `docker network create -d vxnet --ipam-driver vxnet --subnet CIDR vxn` on h1 and h2; names from the agent\'s DNS at 169.254.169.53, Docker\'s upstream (daemon.json "dns"). '
        + 'Baseline, same run, same lab: Docker\'s swarm overlay (`docker swarm init` on h1, h2 and h3 join, `docker network create -d overlay --attachable ovl`); names from swarm\'s gossip. '
        + 'Both networks warm (a container on each on h1 and h2 before the trials). A watcher in the h2 container\'s network namespace asks 127.0.0.11 for the new name every 5 ms, then pings the address every 5 ms; '
        + 'times run from just before `docker run -d` on h1 (the docker CLI\'s start-up included, as in the anchor) to the watcher\'s first answer. '
        + 'Anchor for swarm on this machine kind: 493 ms p50 to the first reply, `docker run` returning in ~550 ms (shared/anchors/docker/README.md, b2 warm).',
      '',
      table,
      '',
      verdict,
      '',
    ].join('\n'));
  } finally {
    try {
      vx('lab', 'down', '--name', lab);
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  }
}

await main();
