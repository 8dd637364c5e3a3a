/**
 * stats and top: the readers on a /proc and cgroup tree written as the kernel writes
 * them (no root), and the Engine's decisions on fakes: which pid and network mode it
 * samples, zeros for a container that is not running, a typed error when a running
 * one's cgroup cannot be read, top refused for a stopped container, the API routes.
 */
import t, { type Test } from 'tap';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '@vxnet/common';
import { Engine, type ContainerProcs } from '../src/engine.js';
import { buildApi } from '../src/api/server.js';
import { ImageStore } from '../src/image/images.js';
import { sampleStats } from '../src/stats/container-stats.js';
import { listProcesses } from '../src/stats/container-top.js';
import { FakeAgent, FakeRuntime, FakeSandboxes } from './helpers/fakes.js';

const CG = '/vxnet-' + 'b'.repeat(64);
const BOOT = 1_700_000_000;

function write(root: string, files: Record<string, string | Buffer>): void {
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(join(root, path, '..'), { recursive: true });
    writeFileSync(join(root, path), text);
  }
}

function statLine(pid: number, comm: string, ppid: number, ttyNr: number, utime: number, stime: number, startTicks: number): string {
  return `${pid} (${comm}) S ${ppid} ${pid} ${pid} ${ttyNr} -1 4194560 0 0 0 0 ${utime} ${stime} 0 0 20 0 1 0 ${startTicks} 1000 100 0\n`;
}

/** A host with cgroup v1 and a container whose init is pid 100 and an exec'd `sleep 300` pid 107. */
function fakeHost(t: Test): { proc: string; passwd: string } {
  const root = mkdtempSync(join(tmpdir(), 'vxnet-stats-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  const cgroup = join(root, 'cgroup');
  write(root, {
    'proc/self/mountinfo': ['cpuacct', 'memory', 'pids'].map((c, i) => `${30 + i} 1 0:${i} / ${cgroup}/${c} rw,relatime - cgroup cgroup rw,${c}`).join('\n') + '\n',
    'proc/stat': `cpu  1000 0 500 8000 0 0 500 0 0 0\ncpu0 500 0 250 4000 0 0 250 0 0 0\ncpu1 500 0 250 4000 0 0 250 0 0 0\nbtime ${BOOT}\n`,
    'proc/meminfo': 'MemTotal:        1048576 kB\n',
    'proc/100/cgroup': `8:pids:${CG}\n4:memory:${CG}\n2:cpuacct:${CG}\n0::/\n`,
    'proc/100/net/dev': 'Inter-|\n face |\n    lo: 500 5 0 0 0 0 0 0 500 5 0 0 0 0 0 0\n  eth0: 2000 20 0 0 0 0 0 0 1000 10 0 0 0 0 0 0\n',
    'proc/100/stat': statLine(100, 'sh', 90, 0, 30, 10, 1000),
    'proc/100/status': 'Name:\tsh\nUid:\t0\t0\t0\t0\n',
    'proc/100/cmdline': Buffer.from('sh\0-c\0while :; do sleep 1; done\0'),
    'proc/107/stat': statLine(107, 'sleep', 0, (136 << 8) | 1, 0, 0, 5000),
    'proc/107/status': 'Name:\tsleep\nUid:\t1000\t1000\t1000\t1000\n',
    'proc/107/cmdline': Buffer.from('sleep\u0000300\u0000'),
    'passwd': 'root:x:0:0:root:/root:/bin/sh\n',
    [`cgroup/cpuacct${CG}/cpuacct.usage`]: '40000000\n',
    [`cgroup/memory${CG}/memory.usage_in_bytes`]: '3145728\n',
    [`cgroup/memory${CG}/memory.stat`]: 'total_inactive_file 1048576\n',
    [`cgroup/memory${CG}/memory.limit_in_bytes`]: '9223372036854771712\n',
    [`cgroup/pids${CG}/pids.current`]: '3\n',
    // 113 is listed but gone by the time it is read
    [`cgroup/pids${CG}/cgroup.procs`]: '107\n100\n113\n',
  });
  return { proc: join(root, 'proc'), passwd: join(root, 'passwd') };
}

t.test('a sample: cgroup CPU time, memory less inactive cache, the host\'s memory as limit, pids, interfaces without lo', async (t) => {
  const src = fakeHost(t);
  const s = sampleStats(100, true, src);
  t.same(s.cpu, { usageNs: 40_000_000, systemNs: (1000 + 500 + 8000 + 500) * 10_000_000, onlineCpus: 2 });
  t.same(s.memory, { usage: 2 * 1048576, limit: 1048576 * 1024 });
  t.equal(s.pids, 3);
  t.same(Object.keys(s.networks), ['eth0']);
  t.equal(s.networks.eth0?.rxBytes, 2000);
  t.equal(s.networks.eth0?.txBytes, 1000);
  t.same(sampleStats(100, false, src).networks, {}, '--net host: the host\'s interfaces are not the container\'s');
  t.throws(() => sampleStats(999, true, src), { code: 'ENOENT' });
});

t.test('top: every process of the cgroup by pid, as ps -ef describes it; one gone meanwhile left out', async (t) => {
  const src = fakeHost(t);
  const now = (BOOT + 100) * 1000;
  const ps = listProcesses(100, src, now);
  t.same(ps.map((p) => p.pid), [100, 107]);
  t.same(ps[0], {
    uid: 0, user: 'root', pid: 100, ppid: 90, c: 0, startedAt: new Date((BOOT + 10) * 1000).toISOString(), tty: '?', cpuSeconds: 0.4,
    cmd: 'sh -c while :; do sleep 1; done',
  });
  t.equal(Math.floor((0.4 * 100) / 90), ps[0]?.c, 'C: CPU time over lifetime, whole percent');
  t.match(ps[1], { uid: 1000, user: '1000', ppid: 0, tty: 'pts/1', cmd: 'sleep 300' }, 'a uid without a name shows the number');
});

interface Rig {
  engine: Engine;
  rootfs: string;
  calls: Array<{ pid: number; ownNetwork: boolean }>;
  procs: ContainerProcs & { fail?: Error };
}

async function rig(t: Test): Promise<Rig> {
  const dir = mkdtempSync(join(tmpdir(), 'vxnet-engine-stats-'));
  mkdirSync(join(dir, 'rootfs'));
  const log = createLogger({ name: 'engine-test', file: join(dir, 'engine.log'), level: 'debug' });
  const runc = new FakeRuntime();
  const calls: Rig['calls'] = [];
  const procs: Rig['procs'] = {
    sample(pid, ownNetwork) {
      calls.push({ pid, ownNetwork });
      if (procs.fail) throw procs.fail;
      return { read: new Date().toISOString(), cpu: { usageNs: 5, systemNs: 10, onlineCpus: 2 }, memory: { usage: 1, limit: 2 }, pids: 1, networks: {} };
    },
    processes(pid) {
      if (procs.fail) throw procs.fail;
      return [{ uid: 0, user: 'root', pid, ppid: 1, c: 0, startedAt: new Date().toISOString(), tty: '?', cpuSeconds: 0, cmd: 'sleep 3600' }];
    },
  };
  const engine = new Engine({
    host: 'h1', stateDir: join(dir, 'state'), runc, agent: new FakeAgent(), sandboxes: new FakeSandboxes(), log, agentPollMs: 10, procs,
    images: new ImageStore({ dir: join(dir, 'images'), busybox: '/bin/busybox', log }),
  });
  await engine.load();
  t.teardown(() => {
    engine.close();
    runc.killAll();
    rmSync(dir, { recursive: true, force: true });
  });
  return { engine, rootfs: join(dir, 'rootfs'), calls, procs };
}

t.test('the engine samples the init of a running container; a stopped one answers zeros; an unreadable cgroup is an error', async (t) => {
  const { engine, rootfs, calls, procs } = await rig(t);
  const c = await engine.run({ name: 'c1', rootfs, detach: true, networks: ['none'] });
  const h = await engine.run({ name: 'h', rootfs, detach: true, networks: ['host'] });
  const s = engine.stats('c1');
  t.match(s, { id: c.id, name: 'c1', running: true, pids: 1 });
  t.same(calls, [{ pid: c.pid, ownNetwork: true }]);
  engine.stats('h');
  t.same(calls[1], { pid: h.pid, ownNetwork: false }, '--net host: no interfaces of its own');
  t.equal(engine.top('c1').processes[0]?.pid, c.pid);

  procs.fail = Object.assign(new Error('EACCES: permission denied'), { code: 'EACCES' });
  t.throws(() => engine.stats('c1'), { code: 'VXNET_STATS_UNREADABLE', message: /could not read the resource use of container "c1": EACCES/ });
  t.throws(() => engine.top('c1'), { code: 'VXNET_STATS_UNREADABLE' });
  delete procs.fail;

  const before = calls.length;
  await engine.stop('c1', 0);
  t.match(engine.stats('c1'), { running: false, pids: 0, memory: { usage: 0, limit: 0 }, networks: {} });
  t.equal(calls.length, before, 'nothing read for a stopped container');
  t.throws(() => engine.top('c1'), { code: 'VXNET_CONTAINER_NOT_RUNNING', message: 'could not list the processes of container "c1": it is not running' });
  t.throws(() => engine.stats('nope'), { code: 'VXNET_CONTAINER_NOT_FOUND' });
});

t.test('the API: GET stats and top', async (t) => {
  const { engine, rootfs } = await rig(t);
  await engine.run({ name: 'c1', rootfs, detach: true, networks: ['none'] });
  const app = buildApi(engine, 'h1', createLogger({ name: 'api-test', level: 'silent' }));
  t.teardown(() => app.close());
  const stats = await app.inject({ method: 'GET', url: '/v1/containers/c1/stats' });
  t.equal(stats.statusCode, 200);
  t.match(stats.json(), { name: 'c1', running: true, cpu: { onlineCpus: 2 } });
  const top = await app.inject({ method: 'GET', url: '/v1/containers/c1/top' });
  t.equal(top.statusCode, 200);
  t.equal(top.json().processes.length, 1);
  await engine.stop('c1', 0);
  const refused = await app.inject({ method: 'GET', url: '/v1/containers/c1/top' });
  t.equal(refused.statusCode, 409);
  t.equal(refused.json().code, 'VXNET_CONTAINER_NOT_RUNNING');
  t.equal((await app.inject({ method: 'GET', url: '/v1/containers/zz/stats' })).statusCode, 404);
});
