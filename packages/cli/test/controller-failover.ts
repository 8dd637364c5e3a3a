/**
 * The CLI with several controllers (controller-client.ts): two real controller
 * processes on unix sockets over one real etcd, and the real `vxnet` binary. A
 * controller is made unreachable (its socket missing) or hung (SIGSTOP: the kernel
 * still accepts the connection, nothing answers) to show when the CLI moves on and
 * what it says.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { isAlive, spawnDaemon, stopProcess, type NetworkSpec, type ProcessRecord } from '@vxnet/common';
import { etcdMissing, startTestEtcd, type TestEtcd } from '@vxnet/common/testing';

const CLI = fileURLToPath(new URL('../../bin/vxnet.js', import.meta.url));
const CONTROLLER = join(dirname(fileURLToPath(import.meta.resolve('@vxnet/controller'))), '../../bin/vxnet-controller.js');

interface Run { code: number; stdout: string; stderr: string; ms: number }

const missing = etcdMissing();
if (missing) {
  t.plan(0, `skip: ${missing}`);
} else {
  await main();
}

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'vxnet-failover-test-'));
  const procs: ProcessRecord[] = [];
  let etcd: TestEtcd | undefined;
  t.teardown(async () => {
    for (const p of procs) {
      if (isAlive(p)) process.kill(p.pid, 'SIGCONT');
      await stopProcess(p);
    }
    await etcd?.destroy();
    await rm(dir, { recursive: true, force: true });
  });
  etcd = await startTestEtcd('vxnet-failover-test');

  const start = async (name: string): Promise<{ url: string; proc: ProcessRecord }> => {
    const socket = join(dir, `${name}.sock`);
    const logFile = join(dir, `${name}.log`);
    const proc = spawnDaemon({
      command: process.execPath,
      args: [CONTROLLER, '--store', (etcd as TestEtcd).storeUrl, '--socket', socket, '--underlay', '192.0.2.0/24', '--token-file', join(dir, 'token')],
      logFile,
      env: cleanEnv(),
    });
    procs.push(proc);
    const deadline = Date.now() + 15_000;
    while ((await health(socket)) !== 200) {
      if (!isAlive(proc)) throw new Error(`controller ${name} exited:\n${readFileSync(logFile, 'utf8')}`);
      if (Date.now() > deadline) throw new Error(`controller ${name} not healthy after 15 s`);
      await sleep(100);
    }
    return { url: `unix://${socket}`, proc };
  };
  const vxnet = (args: string[]): Promise<Run> => {
    const t0 = Date.now();
    return new Promise((resolve) => {
      execFile(process.execPath, [CLI, ...args], { env: { ...cleanEnv(), VXNET_HOME: join(dir, 'home') }, timeout: 30_000 }, (err, stdout, stderr) => {
        resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr, ms: Date.now() - t0 });
      });
    });
  };
  const [a, b] = [await start('a'), await start('b')];
  const both = `${a.url},${b.url}`;
  const gone = `unix://${join(dir, 'nobody.sock')}`;
  const networks = async () => JSON.parse((await vxnet(['--controller', b.url, 'net', 'ls', '--json'])).stdout) as NetworkSpec[];

  t.test('a controller that cannot be connected to is skipped, for writes too', async (t) => {
    const r = await vxnet(['--controller', `${gone},${a.url}`, 'net', 'create', 'n1']);
    t.equal(r.code, 0, r.stderr);
    t.equal(r.stderr, '', 'nothing to say: nothing was sent to the first');
    const ls = await vxnet(['--controller', `${gone},${b.url}`, 'net', 'ls', '-q']);
    t.equal(ls.code, 0);
  });

  t.test('none reachable: one error naming each', async (t) => {
    const r = await vxnet(['--controller', `${gone},unix://${join(dir, 'other.sock')}`, 'net', 'ls']);
    t.equal(r.code, 1);
    t.match(r.stderr, /^vxnet: could not reach the controller at unix:\/\/.*nobody\.sock,unix:\/\/.*other\.sock: unix:\/\/.*nobody\.sock: connect ENOENT.*; unix:\/\/.*other\.sock: connect ENOENT/);
    const bad = await vxnet(['--controller', `${a.url},ftp://x`, 'net', 'ls']);
    t.match(bad.stderr, /invalid controller URL "ftp:\/\/x": use unix:\/\/\/path, https:\/\/host:port or http:\/\/host:port, comma-separated for several/);
    const badTimeout = await vxnet(['--controller', a.url, '--request-timeout', 'soon', 'net', 'ls']);
    t.match(badTimeout.stderr, /invalid --request-timeout "soon": expected seconds, 1-3600/);
  });

  t.test('a hung controller: reads and creates move on after its share of the timeout', async (t) => {
    process.kill(a.proc.pid, 'SIGSTOP');
    t.teardown(() => process.kill(a.proc.pid, 'SIGCONT'));
    const ls = await vxnet(['--controller', both, '--request-timeout', '4', 'net', 'ls', '-q']);
    t.equal(ls.code, 0, `net ls answered by the second (${ls.ms} ms): ${ls.stderr}`);
    t.ok(ls.ms >= 2000 && ls.ms < 4000 + 1500, `after the first's half of 4 s (${ls.ms} ms)`);

    const c = await vxnet(['--controller', both, '--request-timeout', '4', 'net', 'create', 'n2']);
    t.equal(c.code, 0, `net create n2 created by the second: ${c.stderr}`);
    t.match(c.stderr, /^vxnet: note: the controller at unix:\/\/.*a\.sock gave no answer; network "n2" exists with the settings asked for/);
    t.match(c.stdout, /^[0-9a-f]{64}\n$/);

    // the first wakes up and handles the create it had been sent: the name is taken, nothing doubles
    process.kill(a.proc.pid, 'SIGCONT');
    await sleep(1000);
    t.equal((await networks()).filter((n) => n.name === 'n2').length, 1, 'n2 exists once');

    // a create whose retry finds the name taken with other settings: the error stands
    process.kill(a.proc.pid, 'SIGSTOP');
    const other = await vxnet(['--controller', both, '--request-timeout', '4', 'net', 'create', '--vni', '777', 'n2']);
    t.equal(other.code, 1);
    t.match(other.stderr, /^vxnet: could not create network "n2": the name is taken by network [0-9a-f]{12}\n$/);

    // one controller, hung: a write is not re-sent, and the message says it may have landed
    const alone = await vxnet(['--controller', a.url, '--request-timeout', '2', 'net', 'rm', 'n1']);
    t.equal(alone.code, 1);
    t.match(alone.stderr, /could not reach the controller at unix:\/\/.*a\.sock: timed out after 2000 ms \(the request was sent and no answer came: it may or may not have been applied; check before retrying\)/);
    process.kill(a.proc.pid, 'SIGCONT');
  });
}

function cleanEnv(): Record<string, string> {
  return Object.fromEntries(Object.entries(process.env).filter((e): e is [string, string] => e[1] !== undefined && !e[0].startsWith('VXNET_') && e[0] !== 'NODE_OPTIONS'));
}

function health(socketPath: string): Promise<number> {
  return new Promise((resolve) => {
    const req = request({ socketPath, path: '/v1/health', timeout: 2000 }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', () => resolve(0));
    req.end();
  });
}
