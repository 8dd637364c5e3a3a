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
 * once on a busy loop as waitnames runs them, checks the same on the real thing.
 */
import t from 'tap';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

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
