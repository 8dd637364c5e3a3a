/**
 * The benchmarks' reachability probe (bench/lib/waitname.ts firstReply, which
 * bench/lib/waitnames.ts and the watchers of bench/compare.ts, docker.ts and
 * etcd-cluster.ts rely on): the time of ping's first reply, read from ping's output.
 *
 * A ping answered at once exits right after writing its reply line; on a busy event
 * loop Node may report that exit before the line has been read. Read on 'exit', such a
 * container counted as "resolved but never answered ping" (bench:compare, 20
 * containers: one name in 2 of 3 rounds). A stand-in ping whose reply line arrives
 * after it has exited makes that order certain; the real ping, to loopback, many at
 * once on a busy loop as waitnames runs them, checks the same on the real thing; and
 * waitnames itself, in a container's namespace on a one-host lab, as bench:compare runs
 * it: every container started after it resolves and answers.
 */
import t from 'tap';
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isRoot, tempHome, uniqueLabName, vxnet } from './helpers/cli.js';

// bench/ is its own TypeScript project, built beside this one (tsc -b): its output, loaded at run time
const { firstReply } = (await import(new URL('../../bench/dist/lib/waitname.js', import.meta.url).href)) as {
  firstReply: (ip: string, seconds: number, ping?: string) => Promise<number>;
};

const dir = mkdtempSync(join(tmpdir(), 'vxnet-bench-probe-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

/** A stand-in for ping that exits at once and leaves `line` to a child of its own that still holds stdout. */
function fakePing(name: string, line: string): string {
  const file = join(dir, name);
  writeFileSync(file, `#!/bin/sh\n( sleep 0.3; ${line} ) &\nexit 0\n`);
  chmodSync(file, 0o755);
  return file;
}

t.test('a reply line that arrives after ping has exited is read', async (t) => {
  // argv: -D -n -c1 -i 0.005 -w SECONDS IP, so $9 is the address
  const ping = fakePing('late-reply', 'echo "[1700000000.250000] 64 bytes from $9: icmp_seq=1 ttl=64 time=0.05 ms"');
  t.equal(await firstReply('192.0.2.7', 2, ping), 1700000000250);
});

t.test('no reply line: rejected, naming the address', async (t) => {
  const ping = fakePing('no-reply', 'echo "1 packets transmitted, 0 received, 100% packet loss"');
  await t.rejects(firstReply('192.0.2.7', 2, ping), { message: '192.0.2.7 did not answer ping within 2 s' });
});

t.test('a program that cannot be started: rejected', async (t) => {
  await t.rejects(firstReply('192.0.2.7', 2, join(dir, 'absent')), { code: 'ENOENT' });
});

t.test('the real ping: 40 at once to 127.0.0.1 on a busy event loop, each first reply read', async (t) => {
  const before = Date.now();
  const busy = setInterval(() => {
    const until = Date.now() + 5;
    while (Date.now() < until); // what waitnames' 10 ms poll and answers keep the loop doing
  }, 1);
  try {
    const at = await Promise.all(Array.from({ length: 40 }, () => firstReply('127.0.0.1', 5)));
    const after = Date.now();
    t.equal(at.filter((ms) => ms >= before - 1 && ms <= after + 1).length, 40, 'every reply time is ping\'s wall clock of this run');
  } finally {
    clearInterval(busy);
  }
});

t.test('waitnames in a container\'s namespace (one-host lab): every container run after it resolves and answers ping', { skip: isRoot ? false : 'needs root (lab: namespaces, runc)' }, async (t) => {
  const { home, cleanup } = tempHome('probe');
  const env = { VXNET_HOME: home };
  const lab = uniqueLabName('probe');
  t.teardown(async () => {
    await vxnet(['lab', 'down', '--name', lab], env);
    cleanup();
  });
  const ok = async (args: string[]): Promise<string> => {
    const r = await vxnet(args, env, 120_000);
    if (r.code !== 0) throw new Error(`vxnet ${args.join(' ')}: ${r.stderr.trim()}`);
    return r.stdout;
  };
  await ok(['lab', 'up', '--name', lab, '--hosts', '1', '--underlay', '198.51.100.0/24']);
  await ok(['net', 'create', 'pnet']);
  await ok(['-H', 'h1', 'run', '-d', '--name', 'prober', '--net', 'pnet', 'busybox', 'sleep', '600']);
  const { pid } = JSON.parse(await ok(['-H', 'h1', 'inspect', '--json', 'prober'])) as { pid: number };
  const dns = /^nameserver\s+(\S+)/m.exec(await ok(['-H', 'h1', 'exec', 'prober', 'cat', '/etc/resolv.conf']))?.[1];
  t.ok(dns, 'the prober has a nameserver');

  const names = Array.from({ length: 8 }, (_, i) => `pr${i + 1}`);
  const waitnames = fileURLToPath(new URL('../../bench/dist/lib/waitnames.js', import.meta.url));
  const w = spawn('nsenter', [`--net=/proc/${pid}/ns/net`, '--', process.execPath, waitnames, dns ?? '', '60000', ...names], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  w.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  const closed = new Promise<void>((resolve) => w.on('close', () => resolve()));
  t.teardown(() => void (w.exitCode === null && w.kill()));
  while (!out.includes('ready') && w.exitCode === null) await new Promise((r) => setTimeout(r, 10));
  await Promise.all(names.map((n) => ok(['-H', 'h1', 'run', '-d', '--name', n, '--net', 'pnet', 'busybox', 'sleep', '600'])));
  await closed;
  const line = out.split('\n').find((l) => l.startsWith('{')) ?? '{}';
  const r = JSON.parse(line) as { reachableMs?: number; error?: string; missing?: string[] };
  t.same({ error: r.error, missing: r.missing }, { error: undefined, missing: undefined }, 'no name missing');
  t.type(r.reachableMs, 'number', 'the time of the last first reply');
});
