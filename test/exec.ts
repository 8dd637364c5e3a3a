/**
 * `vxnet exec` as docker's: the real CLI against a real engine and runc in a one-host
 * lab. No timeout on long commands; stdout and stderr streamed apart while the command
 * runs; the exit code passed through; -i forwards stdin (else /dev/null); Ctrl-C, or a
 * client that goes away, ends the command and leaves nothing running; -it gives an
 * interactive shell on a terminal (driven through a pseudo-terminal made by
 * util-linux `script`) with the caller's window size; `run -it` the same for a new
 * container, which ends with the shell.
 */
import t from 'tap';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { isRoot, setupFailure, tempHome, uniqueLabName, VXNET_BIN, vxnet } from './helpers/cli.js';
import { until } from './helpers/wait.js';

/** A running CLI whose output is recorded as it arrives. */
interface Live {
  child: ChildProcess;
  stdout: string;
  stderr: string;
  /** ms after start of the first stdout / stderr bytes */
  firstOut?: number;
  firstErr?: number;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; ms: number }>;
}

const SCRIPT = ['/usr/bin/script', '/bin/script'].find((p) => existsSync(p));

if (!isRoot) {
  t.plan(0, 'skip: exec tests need root (namespaces, runc)');
} else {
  const { home, cleanup } = tempHome('exec');
  const env = { VXNET_HOME: home };
  const lab = uniqueLabName('ex');
  t.teardown(async () => {
    await vxnet(['lab', 'down', '--name', lab], env);
    cleanup();
  });
  const up = await vxnet(['lab', 'up', '--name', lab, '--hosts', '1', '--underlay', '203.0.113.0/24'], env);
  const setupFailed = setupFailure(lab, env, cleanup);
  if (up.code !== 0) await setupFailed(new Error(`lab up failed: ${up.stderr}`));
  const c1 = await vxnet(['-H', 'h1', 'run', '-d', '--name', 'c1', 'busybox'], env);
  if (c1.code !== 0) await setupFailed(new Error(`run c1: ${c1.stderr}`));

  const exec = (args: string[], timeoutMs?: number) => vxnet(['-H', 'h1', 'exec', ...args], env, timeoutMs);
  const live = (args: string[], stdin: 'pipe' | 'ignore' = 'ignore'): Live => {
    const t0 = Date.now();
    const child = spawn(process.execPath, [VXNET_BIN, '-H', 'h1', 'exec', ...args], { env: { ...process.env, ...env }, stdio: [stdin, 'pipe', 'pipe'] });
    const l: Live = {
      child, stdout: '', stderr: '',
      exited: new Promise((resolve) => child.on('close', (code, signal) => resolve({ code, signal, ms: Date.now() - t0 }))),
    };
    child.stdout!.on('data', (d: Buffer) => {
      l.firstOut ??= Date.now() - t0;
      l.stdout += d.toString();
    });
    child.stderr!.on('data', (d: Buffer) => {
      l.firstErr ??= Date.now() - t0;
      l.stderr += d.toString();
    });
    return l;
  };
  /** Command lines of the processes in c1. */
  const psIn = async () => (await exec(['c1', 'ps', '-o', 'args'])).stdout;

  t.test('a long command runs to its end: no timeout', async (t) => {
    const r = await exec(['c1', 'sh', '-c', 'sleep 7; echo done']);
    t.equal(r.code, 0, r.stderr);
    t.equal(r.stdout, 'done\n');
    t.equal(r.stderr, '');
  });

  t.test('stdout and stderr arrive apart, while the command runs', async (t) => {
    const l = live(['c1', 'sh', '-c', 'echo first; echo oops >&2; sleep 3; echo last']);
    const end = await l.exited;
    t.equal(end.code, 0);
    t.equal(l.stdout, 'first\nlast\n', 'stdout to stdout');
    t.equal(l.stderr, 'oops\n', 'stderr to stderr');
    t.ok(l.firstOut !== undefined && l.firstOut < end.ms - 2500, `the first line came ${l.firstOut} ms after start, the end at ${end.ms} ms`);
    t.ok(l.firstErr !== undefined && l.firstErr < end.ms - 2500, `stderr came ${l.firstErr} ms after start`);
  });

  t.test('the exit code passes through', async (t) => {
    t.equal((await exec(['c1', 'sh', '-c', 'exit 7'])).code, 7);
    const missing = await exec(['c1', 'nosuchcmd']);
    t.not(missing.code, 0, 'a missing command fails');
    t.match(missing.stderr, /nosuchcmd/, 'and says why');
    const none = await exec(['nosuch', 'true']);
    t.equal(none.code, 1);
    t.equal(none.stderr, 'vxnet: no such container: nosuch\n', 'a refused exec is one line, no upgrade');
  });

  t.test('-i forwards stdin, EOF closes it; without -i the command reads /dev/null', async (t) => {
    const l = live(['-i', 'c1', 'cat'], 'pipe');
    l.child.stdin!.write('hello\n');
    t.ok((await until(() => l.stdout === 'hello\n', 5000)).value, 'the first line comes back before stdin ends');
    l.child.stdin!.end('world\n');
    const end = await l.exited;
    t.equal(end.code, 0, 'cat ends at EOF');
    t.equal(l.stdout, 'hello\nworld\n');

    const noInput = live(['c1', 'cat'], 'pipe'); // our stdin stays open: cat must not wait on it
    const r = await Promise.race([noInput.exited, new Promise<null>((res) => setTimeout(res, 10_000, null))]);
    t.equal(r?.code, 0, 'cat without -i sees EOF at once');
    noInput.child.stdin!.end();
  });

  t.test('Ctrl-C ends the command; a client that goes away takes its command along', async (t) => {
    const l = live(['c1', 'sleep', '101']);
    t.ok((await until(async () => (await psIn()).includes('sleep 101'), 5000, 100)).value, 'sleep 101 runs in c1');
    const t0 = Date.now();
    l.child.kill('SIGINT');
    const end = await l.exited;
    t.equal(end.code, 130, 'the CLI exits 130 (the command died of SIGINT)');
    t.ok(Date.now() - t0 < 2000, `promptly (${Date.now() - t0} ms)`);
    t.notMatch(await psIn(), /sleep 101/, 'nothing left in the container');

    const k = live(['c1', 'sh', '-c', 'sleep 102; echo never']);
    t.ok((await until(async () => (await psIn()).includes('sleep 102'), 5000, 100)).value, 'sleep 102 runs in c1');
    k.child.kill('SIGKILL');
    await k.exited;
    t.ok((await until(async () => !(await psIn()).includes('sleep 102'), 5000, 100)).value, 'killing the CLI kills the command and its children');
  });

  t.test('exec -it: an interactive shell on a terminal, with our window size', { skip: SCRIPT ? false : 'util-linux script is not installed' }, async (t) => {
    // a fixed command line: script runs it with sh on a new pseudo-terminal of 33x111
    // (whose own \n -> \r\n makes the container terminal's line ends \r\r\n)
    // and resizes it to 40x120 three seconds later (SIGWINCH to the CLI)
    const cmd = `stty rows 33 cols 111; (sleep 3; stty rows 40 cols 120 </dev/tty) & exec '${process.execPath}' '${VXNET_BIN}' -H h1 exec -it c1 sh`;
    const child = spawn(SCRIPT as string, ['-qfec', cmd, '/dev/null'], { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let screen = '';
    child.stdout!.on('data', (d: Buffer) => (screen += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    const seen = async (what: RegExp, why: string) => t.ok((await until(() => what.test(screen), 10_000)).value, why, { screen });

    await seen(/\/ # /, 'a prompt');
    child.stdin!.write('echo hi\r');
    await seen(/\nhi\r*\n/, 'echo hi prints hi');
    child.stdin!.write('stty size\r');
    await seen(/\n33 111\r*\n/, 'the terminal in the container is 33x111');
    child.stdin!.write('tty\r');
    await seen(/\n\/dev\/pts\/\d+\r*\n/, 'stdin is a terminal in the container');
    await until(() => false, 3500);
    child.stdin!.write('stty size\r');
    await seen(/\n40 120\r*\n/, 'a resize of our terminal reaches the container\'s');
    child.stdin!.write('exit 3\r');
    const code = await Promise.race([exited, new Promise<string>((res) => setTimeout(res, 10_000, 'still running'))]);
    t.equal(code, 3, 'exit 3 in the shell: the CLI exits 3');
    if (code === 'still running') child.kill('SIGKILL');
    t.notMatch(await psIn(), /^sh$/m, 'no shell left in the container');
  });

  t.test('run -it: a container on a terminal in the foreground; exiting its shell ends run with its code', { skip: SCRIPT ? false : 'util-linux script is not installed' }, async (t) => {
    const cmd = `stty rows 30 cols 100; exec '${process.execPath}' '${VXNET_BIN}' -H h1 run -it --name tty1 busybox sh`;
    const child = spawn(SCRIPT as string, ['-qfec', cmd, '/dev/null'], { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let screen = '';
    child.stdout!.on('data', (d: Buffer) => (screen += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    const seen = async (what: RegExp, why: string) => t.ok((await until(() => what.test(screen), 10_000)).value, why, { screen });

    await seen(/\/ # /, 'the prompt that came before the CLI attached');
    child.stdin!.write('echo hi-from-tty1\r');
    await seen(/\nhi-from-tty1\r*\n/, 'echo works');
    child.stdin!.write('stty size\r');
    await seen(/\n30 100\r*\n/, 'the container\'s terminal has our size');
    child.stdin!.write('exit 3\r');
    const code = await Promise.race([exited, new Promise<string>((res) => setTimeout(res, 10_000, 'still running'))]);
    t.equal(code, 3, 'run exits with the shell\'s code');
    if (code === 'still running') child.kill('SIGKILL');
    const inspect = await vxnet(['-H', 'h1', 'inspect', '--json', 'tty1'], env);
    t.match(JSON.parse(inspect.stdout), { status: 'exited', exitCode: 3 }, 'the container exited 3');
    t.match((await vxnet(['-H', 'h1', 'logs', 'tty1'], env)).stdout, /hi-from-tty1/, 'its terminal\'s output is in its log');
    t.equal((await vxnet(['-H', 'h1', 'rm', 'tty1'], env)).code, 0, 'and it can be removed');
  });
}
