/**
 * The container verbs people type, end to end in a two-host lab (real engine, runc,
 * agents, etcd): restart policies (a killed process comes back with its name and
 * address and is reached by name from the other host; stop holds it; an engine
 * restart brings `always` containers back; on-failure:2 gives up after two), cp both
 * ways, attach to a `run -dit` shell through a pseudo-terminal and detach from it,
 * logs --timestamps / --since, run --rm -d, -w / -u / --entrypoint, and bad input
 * refused in one line.
 */
import t from 'tap';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isRoot, setupFailure, tempHome, uniqueLabName, VXNET_BIN, vxnet } from './helpers/cli.js';
import { until } from './helpers/wait.js';

interface ContainerJson {
  id: string;
  name: string;
  status: string;
  running: boolean;
  restarting: boolean;
  restartCount: number;
  exitCode: number | null;
  pid: number | null;
  startedAt: string | null;
  networks: Array<{ ip: string; aliases: string[] }>;
}

const SCRIPT = ['/usr/bin/script', '/bin/script'].find((p) => existsSync(p));

if (!isRoot) {
  t.plan(0, 'skip: needs root (namespaces, runc)');
} else {
  const { home, cleanup } = tempHome('lifecycle');
  const env = { VXNET_HOME: home };
  const lab = uniqueLabName('lc');
  t.teardown(async () => {
    await vxnet(['lab', 'down', '--name', lab], env);
    cleanup();
  });
  const setupFailed = setupFailure(lab, env, cleanup);
  const up = await vxnet(['lab', 'up', '--name', lab, '--hosts', '2', '--underlay', '203.0.113.0/24'], env);
  if (up.code !== 0) await setupFailed(new Error(`lab up failed: ${up.stderr}`));
  const created = await vxnet(['net', 'create', 'net1'], env);
  if (created.code !== 0) await setupFailed(new Error(`net create: ${created.stderr}`));
  const client = await vxnet(['-H', 'h2', 'run', '-d', '--name', 'client', '--net', 'net1', 'busybox'], env);
  if (client.code !== 0) await setupFailed(new Error(`run client: ${client.stderr}`));

  const on = (h: string, args: string[], timeoutMs?: number) => vxnet(['-H', h, ...args], env, timeoutMs);
  const inspect = async (h: string, c: string): Promise<ContainerJson> => JSON.parse((await on(h, ['inspect', '--json', c])).stdout) as ContainerJson;
  const clientPings = async (target: string) => (await until(async () => (await on('h2', ['exec', 'client', 'ping', '-c1', '-W1', target])).code === 0, 10_000, 200)).value === true;
  /** The pid of the container's init, as inspect shows it (a process of ours: the lab's runc started it). */
  const initPid = async (h: string, c: string): Promise<number> => {
    const { pid } = await inspect(h, c);
    if (!pid) throw new Error(`${c} has no pid`);
    return pid;
  };

  t.test('--restart always: a killed process comes back with its name and address, reached by name from h2; stop holds it', async (t) => {
    const r = await on('h1', ['run', '-d', '--name', 'web', '--net', 'net1', '--alias', 'www', '--restart', 'always', 'busybox']);
    t.equal(r.code, 0, r.stderr);
    t.ok(await clientPings('web'), 'client (h2) pings web (h1) by name');
    const before = await inspect('h1', 'web');
    const old = await initPid('h1', 'web');
    const killedAt = Date.now();
    process.kill(old, 'SIGKILL');
    const back = await until(async () => {
      const c = await inspect('h1', 'web');
      return c.running && c.pid !== old ? c : undefined;
    }, 10_000, 50);
    // reported, not asserted (no timing assertions in tests): the engine's start time of the new run
    t.ok(back.value, `running again with a new pid, started ${Date.parse(back.value?.startedAt ?? '') - killedAt} ms after the kill (the issue asks for 2 s)`);
    t.equal(back.value?.restartCount, 1);
    t.same(back.value?.networks.map((n) => [n.ip, n.aliases]), before.networks.map((n) => [n.ip, n.aliases]), 'same address and aliases');
    t.ok(await clientPings('web'), 'client pings web by name again');
    t.ok(await clientPings('www'), 'and by its alias');

    t.equal((await on('h1', ['stop', '-t', '1', 'web'])).code, 0);
    await until(() => false, 1500);
    t.match(await inspect('h1', 'web'), { status: 'exited', restarting: false }, 'stop: not restarted');
    t.equal((await on('h1', ['start', 'web'])).code, 0);
    t.ok((await inspect('h1', 'web')).running, 'start runs it again');
  });

  t.test('engine restart: an always container that died while the engine was down runs again', async (t) => {
    const pid = await initPid('h1', 'web');
    t.equal((await vxnet(['lab', 'kill', 'h1', 'engine', '--signal', 'KILL'], env)).code, 0, 'engine killed');
    await until(() => false, 300);
    process.kill(pid, 'SIGKILL');
    const r = await vxnet(['lab', 'restart', 'h1', 'engine'], env);
    t.equal(r.code, 0, `engine started again: ${r.stderr}`);
    t.ok((await until(async () => (await inspect('h1', 'web')).running, 10_000, 100)).value, 'web runs again');
    t.ok(await clientPings('web'), 'and is reached by name from h2');
  });

  t.test('on-failure:2: two failures restarted, then it stays exited and ps says so', async (t) => {
    const r = await on('h1', ['run', '-d', '--name', 'job', '--restart', 'on-failure:2', 'busybox', 'sh', '-c', 'sleep 0.2; exit 3']);
    t.equal(r.code, 0, r.stderr);
    const done = await until(async () => {
      const c = await inspect('h1', 'job');
      return c.status === 'exited' && !c.restarting && c.restartCount === 2 ? c : undefined;
    }, 15_000, 100);
    t.match(done.value, { exitCode: 3, restartCount: 2 }, 'exited 3 after two restarts');
    await until(() => false, 1500);
    t.match(await inspect('h1', 'job'), { status: 'exited', restartCount: 2 }, 'no third restart');
    const ps = await on('h1', ['ps', '-a']);
    t.match(ps.stdout, /Exited \(3\) .*job/, 'ps -a: Exited (3)');
  });

  t.test('cp: a file and a directory, both ways, contents equal', async (t) => {
    const dir = join(home, 'cp');
    mkdirSync(join(dir, 'tree', 'sub'), { recursive: true });
    writeFileSync(join(dir, 'one.txt'), 'one file\n');
    writeFileSync(join(dir, 'tree', 'a.txt'), 'a\n');
    writeFileSync(join(dir, 'tree', 'sub', 'b.txt'), 'b'.repeat(100_000));
    t.equal((await on('h1', ['cp', join(dir, 'one.txt'), 'web:/tmp/copied.txt'])).code, 0);
    t.equal((await on('h1', ['exec', 'web', 'cat', '/tmp/copied.txt'])).stdout, 'one file\n', 'file in');
    const dirIn = await on('h1', ['cp', join(dir, 'tree'), 'web:/tmp']);
    t.equal(dirIn.code, 0, dirIn.stderr);
    t.equal((await on('h1', ['exec', 'web', 'cat', '/tmp/tree/sub/b.txt'])).stdout, 'b'.repeat(100_000), 'directory in');
    t.equal((await on('h1', ['exec', 'web', 'sh', '-c', 'echo made inside > /tmp/tree/new.txt'])).code, 0);

    const out = join(dir, 'out');
    mkdirSync(out);
    t.equal((await on('h1', ['cp', 'web:/tmp/tree', join(out, 'tree2')])).code, 0);
    t.equal(readFileSync(join(out, 'tree2', 'sub', 'b.txt'), 'utf8'), 'b'.repeat(100_000), 'directory out');
    t.equal(readFileSync(join(out, 'tree2', 'new.txt'), 'utf8'), 'made inside\n', 'with what was made inside');
    t.equal((await on('h1', ['cp', 'web:/etc/hostname', out])).code, 0);
    t.equal(readFileSync(join(out, 'hostname'), 'utf8'), (await on('h1', ['exec', 'web', 'cat', '/etc/hostname'])).stdout, 'file out, into a directory');
  });

  t.test('attach to a run -dit shell through a terminal; ctrl-p ctrl-q detaches and leaves it running', { skip: SCRIPT ? false : 'util-linux script is not installed' }, async (t) => {
    const r = await on('h1', ['run', '-dit', '--name', 'sh1', 'busybox', 'sh']);
    t.equal(r.code, 0, r.stderr);
    const cmd = `stty rows 30 cols 100; exec '${process.execPath}' '${VXNET_BIN}' -H h1 attach sh1`;
    const child = spawn(SCRIPT as string, ['-qfec', cmd, '/dev/null'], { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let screen = '';
    child.stdout!.on('data', (d: Buffer) => (screen += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    const seen = async (what: RegExp, why: string) => t.ok((await until(() => what.test(screen), 10_000)).value, why, { screen });
    await seen(/\/ # /, 'the prompt');
    child.stdin!.write('echo hi-$((6*7))\r');
    await seen(/\nhi-42\r*\n/, 'a command typed runs and prints');
    child.stdin!.write('\x10\x11');
    const code = await Promise.race([exited, new Promise<string>((res) => setTimeout(res, 10_000, 'still attached'))]);
    if (code === 'still attached') child.kill('SIGKILL');
    t.equal(code, 0, 'ctrl-p ctrl-q: attach exits 0');
    t.ok((await inspect('h1', 'sh1')).running, 'the container still runs');
    t.match((await on('h1', ['logs', 'sh1'])).stdout, /hi-42/, 'its terminal output is in its log');
  });

  t.test('logs --timestamps: lines in order with their times; --since filters', async (t) => {
    const r = await on('h1', ['run', '-d', '--name', 'ticker', 'busybox', 'sh', '-c', 'for i in 1 2 3 4 5; do echo tick $i; sleep 0.4; done; exec sleep 1000']);
    t.equal(r.code, 0, r.stderr);
    const lines = await until(async () => {
      const l = (await on('h1', ['logs', '--timestamps', 'ticker'])).stdout.split('\n').filter(Boolean);
      return l.length === 5 ? l : undefined;
    }, 10_000, 200);
    t.ok(lines.value, 'five lines');
    const parsed = (lines.value ?? []).map((l) => /^(\S+) (tick \d)$/.exec(l));
    t.ok(parsed.every(Boolean), 'each line: an RFC 3339 time, then the line', { lines: lines.value });
    const times = parsed.map((m) => Date.parse(m?.[1] ?? ''));
    t.ok(times.every((x, i) => !Number.isNaN(x) && (i === 0 || x >= (times[i - 1] as number))), 'times in order');
    t.same(parsed.map((m) => m?.[2]), ['tick 1', 'tick 2', 'tick 3', 'tick 4', 'tick 5'], 'lines in order');
    const since = await on('h1', ['logs', '--since', lines.value?.[2]?.split(' ')[0] ?? '', 'ticker']);
    t.same(since.stdout.split('\n').filter(Boolean), ['tick 3', 'tick 4', 'tick 5'], '--since the third line\'s time: from it on');
  });

  t.test('run --rm -d: removed when it exits', async (t) => {
    const r = await on('h1', ['run', '-d', '--rm', '--name', 'brief', '--net', 'net1', 'busybox', 'sh', '-c', 'sleep 0.5']);
    t.equal(r.code, 0, r.stderr);
    const gone = await until(async () => !(await on('h1', ['ps', '-a'])).stdout.includes('brief'), 10_000, 200);
    t.ok(gone.value, 'gone from ps -a');
    t.match((await on('h1', ['inspect', 'brief'])).stderr, /no such container: brief/);
  });

  t.test('-w, -u and --entrypoint are what the process sees', async (t) => {
    const r = await on('h1', ['run', '--rm', '--name', 'who', '-w', '/tmp', '-u', 'nobody', '--entrypoint', '/bin/sh', 'busybox', '-c', 'pwd; id -u; id -g']);
    t.equal(r.code, 0, r.stderr);
    t.equal(r.stdout, '/tmp\n65534\n65534\n');
    const u = await on('h1', ['run', '--rm', '-u', '1234:50', 'busybox', 'id']);
    t.match(u.stdout, /^uid=1234 gid=50/);
  });

  t.test('bad input refused in one line', async (t) => {
    const cases: Array<[string[], RegExp]> = [
      [['cp', 'web:../../etc/passwd', join(home, 'x')], /^vxnet: could not copy from container "web": the path "..\/..\/etc\/passwd" leads out of the container's root\n$/],
      [['cp', join(home, 'nothing'), 'web:/tmp'], /^vxnet: could not copy ".*nothing" to container "web": no such file or directory\n$/],
      [['run', '-d', '--restart', 'sometimes', 'busybox'], /^vxnet: invalid --restart "sometimes": unknown policy "sometimes" \(expected no, on-failure, always, unless-stopped, on-failure:N\)\n$/],
      [['run', '-d', '--rm', '--restart', 'always', 'busybox'], /^vxnet: could not create container ".*": --rm and --restart always conflict/],
      [['run', '-d', '-u', 'ghost', 'busybox'], /^vxnet: could not create container ".*": invalid user \(-u\) "ghost": no user "ghost" in the image's \/etc\/passwd\n$/],
      [['attach', 'web'], /^vxnet: could not attach to container "web": it was not run with -t\n$/],
    ];
    for (const [args, message] of cases) {
      const r = await on('h1', args);
      t.equal(r.code, 1, `${args.join(' ')} exits 1`);
      t.match(r.stderr, message, args.join(' '));
    }
    t.notOk(existsSync(join(home, 'x')), 'nothing written for the refused cp');
  });
}
