/**
 * The CLI end to end, as a user types it, against Node's own start in the same run
 * (issue 15): `vxnet --version`, `net ls`, `net create` (then rm, not timed), `exec C
 * true` and `run -d` (then rm -f, not timed), in a 1-host lab.
 *
 * Each command runs in two builds of this checkout: `bundle`, bin/vxnet.js as users and
 * the lab run it (the esbuild bundle, dist/bundle), and `unbundled`, node
 * dist/src/bin.js (tsc's output, how the CLI ran before the bundle). With
 * VXNET_BENCH_BEFORE=/path/to/other/packages/cli/bin/vxnet.js a third column runs
 * that build (e.g. the main checkout's) against the same lab.
 *
 * Rounds alternate: every round runs each command of each build once, in an order
 * that rotates, so drift of the shared machine falls on all alike; medians are quoted.
 * Every process runs under lib/rusage.py (wall around fork/exec/wait, CPU from wait4's
 * rusage), `node -e 0` too.
 *
 * Where an exec's time goes, same run: `runc exec ID true` by hand (runc's own cost,
 * the floor), the engine's exec API from a client already running (runc + the engine
 * + the socket), and the whole CLI command (+ Node's start and the CLI's).
 * The same for net create: the controller's API from a running client, then the CLI.
 *
 *   node bench/dist/cli.js [rounds]      (root; after npm run build: npm run bench -- cli)
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Frame, FrameDecoder } from '@vxnet/common/api';
import { unixJson } from '@vxnet/common/testing';
import { ms, summarize, time, writeReport } from './lib/stats.js';

const ROUNDS = Number(process.argv[2] ?? 15);
const BIN = fileURLToPath(new URL('../../packages/cli/bin/vxnet.js', import.meta.url));
const BUNDLE = fileURLToPath(new URL('../../packages/cli/dist/bundle/bin.js', import.meta.url));
const UNBUNDLED = fileURLToPath(new URL('../../packages/cli/dist/src/bin.js', import.meta.url));
const BEFORE = process.env.VXNET_BENCH_BEFORE;
const RUSAGE = fileURLToPath(new URL('../lib/rusage.py', import.meta.url));
/** Issue 15's goals, over `node -e 0` of the same run (ms). */
const GOAL_NET_CREATE = 25;
const GOAL_EXEC = 40;
/** Docker's `run -d` in issue 15's side-by-side run (not this one: bench compare has both). */
const DOCKER_RUN_MS = 511;

interface Timed {
  wallMs: number;
  cpuMs: number;
}

/** One process under lib/rusage.py: its wall time and its user+system CPU (wait4). Throws when it fails. */
function timed(argv: string[], env: NodeJS.ProcessEnv): Timed {
  const r = spawnSync('python3', [RUSAGE, ...argv], { env, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${argv.join(' ')} exited ${r.status}: ${r.stderr.trim()}`);
  const line = r.stderr.split('\n').reverse().find((l) => l.startsWith('RUSAGE '));
  if (!line) throw new Error(`${argv.join(' ')}: no RUSAGE line`);
  return JSON.parse(line.slice('RUSAGE '.length)) as Timed;
}

const median = (xs: number[]): number => summarize(xs).p50;

/**
 * `exec C true` through the engine's upgrade route, timed by stage (ms from the
 * request): the 101 answer (the engine checked the request and is about to spawn
 * runc), the exit frame (runc exec ran the process and exited), the connection closed.
 */
function execStages(socketPath: string, ref: string): Promise<{ upgradeMs: number; exitMs: number; closedMs: number }> {
  const payload = JSON.stringify({ cmd: ['true'] });
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const r = request({
      socketPath, method: 'POST', path: `/v1/containers/${encodeURIComponent(ref)}/exec`, agent: false,
      headers: { connection: 'Upgrade', upgrade: 'tcp', 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) },
    });
    r.on('response', (res) => reject(new Error(`exec refused (${res.statusCode})`)));
    r.on('upgrade', (_res, socket, head) => {
      const upgradeMs = performance.now() - t0;
      const decoder = new FrameDecoder();
      let exitMs = NaN;
      const onData = (chunk: Buffer) => {
        for (const f of decoder.push(chunk)) if (f.type === Frame.exit) exitMs = performance.now() - t0;
      };
      onData(head);
      socket.on('data', onData);
      socket.on('error', reject);
      socket.on('close', () => (Number.isNaN(exitMs) ? reject(new Error('exec stream closed without an exit frame')) : resolve({ upgradeMs, exitMs, closedMs: performance.now() - t0 })));
    });
    r.on('error', reject);
    r.end(payload);
  });
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('this benchmark runs in a lab and needs root');
  const built = (f: string) => statSync(fileURLToPath(new URL(f, import.meta.url))).mtimeMs;
  if (!existsSync(BUNDLE) || built('../../packages/cli/dist/tsconfig.tsbuildinfo') > built('../../packages/cli/dist/bundle/bin.js')) {
    throw new Error('the CLI bundle is missing or stale (bin/vxnet.js would not run it): npm run build');
  }
  const loadBefore = loadavg()[0] ?? 0;
  const home = mkdtempSync(join(tmpdir(), 'vxnet-bench-cli-'));
  const env = { ...process.env, VXNET_HOME: home };
  const lab = `cli-${process.pid.toString(36)}`;
  const vx = (...args: string[]) => execFileSync(process.execPath, [BIN, ...args], { env, encoding: 'utf8' });
  const keep = new Agent({ keepAlive: true, maxSockets: 1 });
  try {
    vx('lab', 'up', '--name', lab, '--hosts', '1');
    vx('net', 'create', 'net1');
    vx('run', '-d', '--name', 'c1', '--net', 'net1', 'busybox');
    const state = JSON.parse(readFileSync(join(home, 'labs', lab, 'lab.json'), 'utf8'));
    const host = state.hosts[0];
    const engineSock: string = host.engine.socket;
    const controllerSock: string = state.controller.url.slice('unix://'.length);
    const id = (JSON.parse(vx('inspect', '--json', 'c1')) as { id: string }).id;
    // runc as the engine runs it: in the host machine's mount namespace (the bundle's
    // paths are the machine's), with the engine's state root; nsenter adds its own exec
    const engineConfig = JSON.parse(readFileSync(host.engine.config as string, 'utf8')) as { stateDir?: string };
    const runcRoot = join(engineConfig.stateDir ?? '/var/lib/vxnet/engine', 'runc');
    const runcByHand = ['nsenter', `--mount=/proc/${host.keeper.pid as number}/ns/mnt`, '--', 'runc', '--root', runcRoot, 'exec', id, 'true'];

    const builds: Array<[string, string[]]> = [['bundle', [process.execPath, BIN]], ['unbundled', [process.execPath, UNBUNDLED]]];
    if (BEFORE) builds.push(['before', [process.execPath, BEFORE]]);
    const samples = new Map<string, Timed[]>();
    const add = (key: string, t: Timed) => samples.set(key, [...(samples.get(key) ?? []), t]);
    const inProcess = new Map<string, number[]>();
    const addMs = (key: string, v: number) => inProcess.set(key, [...(inProcess.get(key) ?? []), v]);

    // warm-up: page cache, the engine's and controller's first requests
    for (const [, argv] of builds) {
      timed([...argv, '--version'], env);
      timed([...argv, 'exec', 'c1', 'true'], env);
    }
    let serial = 0;
    for (let round = 0; round < ROUNDS; round++) {
      const jobs: Array<() => void> = [
        () => add('node -e 0', timed([process.execPath, '-e', '0'], env)),
        () => add('nsenter + runc exec ID true (by hand)', timed(runcByHand, env)),
      ];
      for (const [build, argv] of builds) {
        jobs.push(
          () => add(`${build}: vxnet --version`, timed([...argv, '--version'], env)),
          () => add(`${build}: vxnet net ls`, timed([...argv, 'net', 'ls'], env)),
          () => {
            const name = `b${serial++}`;
            add(`${build}: vxnet net create`, timed([...argv, 'net', 'create', name], env));
            vx('net', 'rm', name);
          },
          () => add(`${build}: vxnet exec c1 true`, timed([...argv, 'exec', 'c1', 'true'], env)),
          () => {
            const name = `r${serial++}`;
            add(`${build}: vxnet run -d`, timed([...argv, 'run', '-d', '--name', name, '--net', 'net1', 'busybox'], env));
            vx('rm', '-f', name);
          },
        );
      }
      // rotate the order each round
      for (let i = 0; i < jobs.length; i++) jobs[(i + round) % jobs.length]!();
      process.stdout.write(`round ${round + 1}/${ROUNDS}\r`);
      // the APIs from a client that is already running: the daemons' share, without any process start
      const st = await execStages(engineSock, 'c1');
      addMs('engine exec API (client running): request → 101', st.upgradeMs);
      addMs('engine exec API (client running): 101 → exit frame (runc exec)', st.exitMs - st.upgradeMs);
      addMs('engine exec API (client running): request → closed', st.closedMs);
      const name = `a${serial++}`;
      addMs('controller POST /v1/networks (client running)', await time(async () => {
        const r = await unixJson(controllerSock, 'POST', '/v1/networks', { name }, keep);
        if (r.status !== 201) throw new Error(`create API: ${r.status} ${JSON.stringify(r.body)}`);
      }));
      vx('net', 'rm', name);
    }
    const loadAfter = loadavg()[0] ?? 0;

    const node = median(samples.get('node -e 0')!.map((s) => s.wallMs));
    const nodeCpu = median(samples.get('node -e 0')!.map((s) => s.cpuMs));
    const row = (key: string) => {
      const s = samples.get(key)!;
      const wall = median(s.map((x) => x.wallMs));
      const cpu = median(s.map((x) => x.cpuMs));
      return `| ${key} | ${s.length} | ${ms(wall)} | ${ms(wall - node)} | ${ms(cpu)} | ${ms(cpu - nodeCpu)} |`;
    };
    const commands = ['vxnet --version', 'vxnet net ls', 'vxnet net create', 'vxnet exec c1 true', 'vxnet run -d'];
    const table = [
      '| process | runs | wall p50 (ms) | wall − node | CPU p50 (ms) | CPU − node |',
      '|---|---:|---:|---:|---:|---:|',
      row('node -e 0'),
      row('nsenter + runc exec ID true (by hand)'),
      ...commands.flatMap((c) => builds.map(([b]) => row(`${b}: ${c}`))),
    ].join('\n');
    const api = [
      '| request, from a client already running | runs | p50 (ms) |',
      '|---|---:|---:|',
      ...[...inProcess].map(([k, v]) => `| ${k} | ${v.length} | ${ms(median(v))} |`),
    ].join('\n');
    const over = (c: string) => median(samples.get(`bundle: ${c}`)!.map((s) => s.wallMs)) - node;
    const runD = median(samples.get('bundle: vxnet run -d')!.map((s) => s.wallMs));
    const verdict = (ok: boolean) => (ok ? 'met' : 'not met');
    const byHand = median(samples.get('nsenter + runc exec ID true (by hand)')!.map((s) => s.wallMs));
    const viaEngine = median(inProcess.get('engine exec API (client running): request → closed')!);
    const create = median(inProcess.get('controller POST /v1/networks (client running)')!);
    const shares = [
      `- exec: runc by hand (with nsenter's own exec) ${ms(byHand)} ms; through the engine's API, request → closed, ${ms(viaEngine)} ms: the engine and its socket add ${ms(viaEngine - byHand)} ms; the CLI adds its process (Node's start and its own) on top: ${ms(median(samples.get('bundle: vxnet exec c1 true')!.map((s) => s.wallMs)) - viaEngine)} ms.`,
      `- net create: the controller's API from a running client ${ms(create)} ms; the CLI adds ${ms(median(samples.get('bundle: vxnet net create')!.map((s) => s.wallMs)) - create)} ms.`,
    ].join('\n');
    const goals = [
      `- net create: node + ${ms(over('vxnet net create'))} ms; goal ≤ node + ${GOAL_NET_CREATE} ms: **${verdict(over('vxnet net create') <= GOAL_NET_CREATE)}**`,
      `- exec c1 true: node + ${ms(over('vxnet exec c1 true'))} ms; goal ≤ node + ${GOAL_EXEC} ms: **${verdict(over('vxnet exec c1 true') <= GOAL_EXEC)}**`,
      `- run -d: ${ms(runD)} ms; goal ≥ 2× ahead of Docker's ${DOCKER_RUN_MS} ms (issue 15's run; \`bench compare\` puts Docker in the same run), i.e. ≤ ${DOCKER_RUN_MS / 2} ms: **${verdict(runD <= DOCKER_RUN_MS / 2)}**`,
    ].join('\n');
    console.log(`${table}\n\n${api}\n\n${shares}\n\n${goals}`);
    writeReport('cli', [
      '# CLI: start-up and end-to-end commands against Node\'s own start',
      '',
      `Command: \`node bench/dist/cli.js${process.argv[2] ? ` ${process.argv[2]}` : ''}\`${BEFORE ? ` with VXNET_BENCH_BEFORE=${BEFORE}` : ''} (root; after \`npm run build\`)`,
      `Date: ${new Date().toISOString()}; ${ROUNDS} rounds, commands interleaved in rotating order; 1-min load average ${loadBefore.toFixed(2)} before, ${loadAfter.toFixed(2)} after (2 cores shared).`,
      `Setup: a 1-host lab (runc ${execFileSync('runc', ['--version'], { encoding: 'utf8' }).split('\n')[0]?.replace('runc version ', '')}, busybox-static rootfs), the controller and engine on unix sockets. Node ${process.version}; NODE_EXTRA_CA_CERTS ${process.env.NODE_EXTRA_CA_CERTS ? `set (${process.env.NODE_EXTRA_CA_CERTS}), as in the user's environment: Node reads it at every start, \`node -e 0\` included` : 'not set'}. Every process runs under bench/lib/rusage.py (wall around fork/exec/wait; CPU = user + system from wait4), \`node -e 0\` too.`,
      '`bundle` is bin/vxnet.js (dist/bundle, esbuild, what users and the lab run); `unbundled` is node dist/src/bin.js, tsc\'s output as the CLI ran before the bundle.',
      '',
      table,
      '',
      api,
      '',
      shares,
      '',
      goals,
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
