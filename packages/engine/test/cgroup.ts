import t, { type Test } from 'tap';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cgroupDir, parseCgroupMounts, parseKeyedCounters, parseProcCgroup, readCgroupProcs, readCgroupUsage } from '../src/stats/cgroup.js';

const ID = 'vxnet-' + 'a'.repeat(64);

/** This project's hosts as the kernel shows them: v1 controllers, an empty v2 tree at unified. */
const HYBRID_MOUNTINFO = [
  '31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755',
  '32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu',
  '33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct',
  '35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory',
  '39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids',
  '40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd',
  '41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw',
].join('\n');

const HYBRID_PROC_CGROUP = `9:name=systemd:/\n8:pids:/${ID}\n4:memory:/${ID}\n2:cpuacct:/${ID}\n1:cpu:/${ID}\n0::/\n`;

t.test('/proc/PID/cgroup: v1 paths per controller, the v2 path apart', async (t) => {
  const cg = parseProcCgroup('11:cpu,cpuacct:/docker/x\n4:memory:/m\n1:name=systemd:/s\n0::/v2path\n');
  t.equal(cg.v1.get('cpu'), '/docker/x');
  t.equal(cg.v1.get('cpuacct'), '/docker/x', 'a shared hierarchy lists both controllers');
  t.equal(cg.v1.get('name=systemd'), '/s');
  t.equal(cg.v2, '/v2path');
  t.same([...parseProcCgroup('0::/only\n').v1], [], 'pure v2');
});

t.test('mountinfo: cgroup hierarchies by controller, optional fields and escapes', async (t) => {
  const m = parseCgroupMounts(HYBRID_MOUNTINFO);
  t.same(m.v1.get('memory'), { root: '/', mountPoint: '/sys/fs/cgroup/memory' });
  t.same(m.v1.get('name=systemd'), { root: '/', mountPoint: '/sys/fs/cgroup/systemd' });
  t.same(m.v2, { root: '/', mountPoint: '/sys/fs/cgroup/unified' });
  t.notOk(m.v1.has('rw'));
  const shared = parseCgroupMounts('25 24 0:22 /sub /sys/fs/cgroup/cpu\\040x rw shared:9 master:2 - cgroup cgroup rw,cpu,cpuacct\n');
  t.same(shared.v1.get('cpuacct'), { root: '/sub', mountPoint: '/sys/fs/cgroup/cpu x' }, 'optional fields skipped, \\040 unescaped');
  t.equal(shared.v1.get('cpu'), shared.v1.get('cpuacct'));
  const v2 = parseCgroupMounts('26 24 0:23 / /sys/fs/cgroup rw,nosuid shared:4 - cgroup2 cgroup2 rw,nsdelegate\n');
  t.same(v2.v2, { root: '/', mountPoint: '/sys/fs/cgroup' });
});

t.test('the directory of a controller: v1 first, then v2; a mounted subtree taken off the path', async (t) => {
  const mounts = parseCgroupMounts(HYBRID_MOUNTINFO);
  const cg = parseProcCgroup(HYBRID_PROC_CGROUP);
  t.same(cgroupDir(cg, mounts, 'memory'), { version: 1, dir: `/sys/fs/cgroup/memory/${ID}` });
  t.same(cgroupDir(cg, mounts, 'io'), { version: 2, dir: '/sys/fs/cgroup/unified' }, 'a controller v1 lacks falls to the v2 tree');
  const v2 = parseCgroupMounts('26 24 0:23 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n');
  t.same(cgroupDir(parseProcCgroup(`0::/${ID}\n`), v2, 'memory'), { version: 2, dir: `/sys/fs/cgroup/${ID}` });
  const nested = parseCgroupMounts('26 24 0:23 /outer /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n');
  t.same(cgroupDir(parseProcCgroup(`0::/outer/${ID}\n`), nested, 'pids'), { version: 2, dir: `/sys/fs/cgroup/${ID}` });
  t.equal(cgroupDir(parseProcCgroup('4:memory:/x\n'), parseCgroupMounts(''), 'memory'), undefined);
});

t.test('memory.stat and cpu.stat lines', async (t) => {
  const m = parseKeyedCounters('cache 4096\ntotal_inactive_file 8192\nbad\n');
  t.equal(m.get('total_inactive_file'), 8192);
  t.notOk(m.has('bad'));
});

function tree(t: Test, files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), 'vxnet-cgroup-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(join(root, path, '..'), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  return root;
}

t.test('v1 usage: cpuacct.usage, usage_in_bytes minus total_inactive_file, no limit, pids.current, cgroup.procs', async (t) => {
  const root = tree(t, {
    [`cpuacct/${ID}/cpuacct.usage`]: '123456789\n',
    [`memory/${ID}/memory.usage_in_bytes`]: '10485760\n',
    [`memory/${ID}/memory.stat`]: 'cache 2097152\ninactive_file 1\ntotal_inactive_file 1048576\n',
    [`memory/${ID}/memory.limit_in_bytes`]: '9223372036854771712\n',
    [`pids/${ID}/pids.current`]: '3\n',
    [`pids/${ID}/cgroup.procs`]: '100\n107\n',
  });
  const mounts = parseCgroupMounts(['cpuacct', 'memory', 'pids'].map((c, i) => `${30 + i} 1 0:${i} / ${root}/${c} rw - cgroup cgroup rw,${c}`).join('\n'));
  const cg = parseProcCgroup(HYBRID_PROC_CGROUP);
  t.same(readCgroupUsage(cg, mounts), { cpuNs: 123456789, memoryBytes: 10485760 - 1048576, memoryLimit: undefined, pids: 3 });
  writeFileSync(join(root, `memory/${ID}/memory.limit_in_bytes`), '67108864\n');
  t.equal(readCgroupUsage(cg, mounts).memoryLimit, 67108864);
  t.same(readCgroupProcs(cg, mounts), [100, 107]);
  rmSync(join(root, `memory/${ID}`), { recursive: true });
  t.throws(() => readCgroupUsage(cg, mounts), { code: 'ENOENT' }, 'a cgroup gone (the container ended) throws');
});

t.test('v2 usage: cpu.stat usage_usec, memory.current minus inactive_file, memory.max', async (t) => {
  const root = tree(t, {
    [`${ID}/cpu.stat`]: 'usage_usec 2500\nuser_usec 2000\nsystem_usec 500\n',
    [`${ID}/memory.current`]: '5000000\n',
    [`${ID}/memory.stat`]: 'anon 4000000\ninactive_file 1000000\n',
    [`${ID}/memory.max`]: 'max\n',
    [`${ID}/pids.current`]: '2\n',
    [`${ID}/cgroup.procs`]: '55\n',
  });
  const mounts = parseCgroupMounts(`26 24 0:23 / ${root} rw - cgroup2 cgroup2 rw\n`);
  const cg = parseProcCgroup(`0::/${ID}\n`);
  t.same(readCgroupUsage(cg, mounts), { cpuNs: 2_500_000, memoryBytes: 4_000_000, memoryLimit: undefined, pids: 2 });
  writeFileSync(join(root, `${ID}/memory.max`), '8388608\n');
  t.equal(readCgroupUsage(cg, mounts).memoryLimit, 8388608);
  t.same(readCgroupProcs(cg, mounts), [55]);
  rmSync(join(root, `${ID}/pids.current`));
  writeFileSync(join(root, `${ID}/cgroup.threads`), '55\n56\n57\n');
  t.equal(readCgroupUsage(cg, mounts).pids, 3, 'no pids controller enabled: the threads listed');
});
