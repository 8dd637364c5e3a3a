/**
 * A 3-member etcd cluster and two controllers (issue 13), end to end in one lab of 3
 * hosts: the leader SIGKILLed during 200 creates, runs and the agents' lease renewals;
 * a minority member down for 30 s; the majority down; a controller killed during a
 * loop of CLI creates. Throughout, a container on h2 pings one on h1 by name 5 times a
 * second and stamps each try with the kernel's uptime, so losses can be placed in time.
 */
import t, { type Test } from 'tap';
import { execFile, execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { cidrsOverlap, parseCidr, type NetworkClaim, type NetworkSpec } from '@vxnet/common';
import { unixJson } from '@vxnet/common/testing';
import { isRoot, setupFailure, tempHome, uniqueLabName, vxnet, type RunResult } from './helpers/cli.js';
import { readLab } from './helpers/lab.js';
import { until } from './helpers/wait.js';

interface MemberJson { index: number; name: string; endpoint: string; netns: string; pid: number | null; running: boolean; health: string; leader: boolean }
interface StatusJson {
  health: string;
  problems: string[];
  store: { url: string; endpoints: string[]; netns: string; members: MemberJson[]; leader: number | null };
  controllers: Array<{ name: string; url: string; running: boolean }>;
  tls: { ca: string; cert: string; key: string } | null;
}

/** The kernel's uptime, s: the same clock inside every container (/proc/uptime is not namespaced). */
const uptime = () => Number(readFileSync('/proc/uptime', 'utf8').split(' ')[0]);

/** One try per 200 ms: resolve web, ping it once, stamp the line (busybox sh, usleep and ping). */
const PINGER = 'while :; do if ping -c1 -W1 web >/dev/null 2>&1; then r=ok; else r=lost; fi; echo "$(cut -d" " -f1 /proc/uptime) $r"; usleep 200000; done';

if (!isRoot) {
  t.plan(0, 'skip: lab tests need root (network namespaces)');
} else {
  // one parent test: the lab lives as long as it does (its teardown removes the lab)
  t.test('a 3-host lab with 3 etcd members and 2 controllers', (t) => main(t));
}

async function main(t: Test): Promise<void> {
  const { home, cleanup } = tempHome('etcd-cluster');
  const env = { VXNET_HOME: home };
  const lab = uniqueLabName('ha');
  const up = await vxnet(['lab', 'up', '--name', lab, '--hosts', '3', '--store-members', '3', '--controllers', '2', '--underlay', '192.0.2.0/24'], env, 240_000);
  if (up.code !== 0) await setupFailure(lab, env, cleanup)(new Error(`lab up --store-members 3 --controllers 2 failed: ${up.stderr}`));
  t.teardown(async () => {
    await vxnet(['lab', 'down', '--name', lab], env);
    cleanup();
  });
  const run = (args: string[], timeoutMs?: number) => vxnet(args, env, timeoutMs);
  const ok = async (args: string[]) => {
    const r = await run(args);
    if (r.code !== 0) throw new Error(`vxnet ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
    return r.stdout;
  };
  const status = async (): Promise<StatusJson> => JSON.parse((await run(['lab', 'status', '--json'])).stdout) as StatusJson;
  const first = await status();
  const sockets = first.controllers.map((c) => c.url.slice('unix://'.length));
  const storeNetns = first.store.netns;

  /** The name, VNI and subnet claims and every network record, read with etcdctl from the store's namespace. */
  const storeView = async (): Promise<{ claims: Record<'names' | 'vnis' | 'subnets', NetworkClaim[]>; records: NetworkSpec[] }> => {
    const get = (key: string, prefix: boolean) => new Promise<string>((resolve, reject) => {
      execFile('nsenter', [`--net=/run/netns/${storeNetns}`, '--', 'etcdctl', '--endpoints', first.store.endpoints.join(','),
        ...(first.tls ? ['--cacert', first.tls.ca, '--cert', first.tls.cert, '--key', first.tls.key] : []), 'get', key, ...(prefix ? ['--prefix'] : []), '--print-value-only'],
        { env: { ...process.env, ETCDCTL_API: '3' }, maxBuffer: 16 << 20 }, (err, stdout) => (err ? reject(err) : resolve(stdout)));
    });
    const values = async <T>(prefix: string) => (await get(prefix, true)).split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as T);
    const [names, vnis, subnets, records] = await Promise.all([
      values<NetworkClaim>('/vxnet/names/networks/'), values<NetworkClaim>('/vxnet/vnis/'), values<NetworkClaim>('/vxnet/subnets/'), values<NetworkSpec>('/vxnet/networks/'),
    ]);
    return { claims: { names, vnis, subnets }, records };
  };
  /** Every claim has its record and every record its claim: no half-made network. */
  const wholeNetworks = async (t: Test, what: string) => {
    const { claims, records } = await storeView();
    const recordIds = new Set(records.map((r) => r.id));
    for (const kind of ['names', 'vnis', 'subnets'] as const) {
      const claimIds = new Set(claims[kind].map((c) => c.id));
      t.same(records.filter((r) => !claimIds.has(r.id)).map((r) => r.name), [], `${what}: every network record has its ${kind} claim`);
      // A create cut off between its claims and its record (the controller killed or
      // hung mid-create) leaves its claims; they are taken back after 30 s or by the next
      // create that meets them. Only the one create in flight can leave them.
      const dangling = claims[kind].filter((c) => !recordIds.has(c.id));
      t.ok(dangling.length <= 1, `${what}: at most the one create in flight left a ${kind} claim without a record (${dangling.length})`);
    }
    const subnets = records.map((r) => parseCidr(r.subnet));
    const overlapping = subnets.flatMap((a, i) => subnets.slice(i + 1).filter((b) => cidrsOverlap(a, b)).map((b) => `${a.text}~${b.text}`));
    t.same(overlapping, [], `${what}: no two networks' subnets overlap (${records.length} networks)`);
    t.equal(new Set(records.map((r) => r.vni)).size, records.length, `${what}: no VNI is doubled`);
    t.equal(new Set(records.map((r) => r.name)).size, records.length, `${what}: no name is doubled`);
    return records;
  };
  /** The pinger's tries stamped within [from, to] (uptime seconds). */
  const pings = async (from: number, to: number) => {
    const lines = (await run(['-H', 'h2', 'logs', 'pinger'])).stdout.split('\n');
    const tries = lines.map((l) => l.split(' ')).filter(([at]) => Number(at) >= from && Number(at) <= to);
    return { ok: tries.filter(([, r]) => r === 'ok').length, lost: tries.filter(([, r]) => r === 'lost').length };
  };
  /**
   * Milliseconds from `start` (a run) returning until `name` resolves in the pinger on
   * h2, polled inside the container every ~25 ms; negative when it resolved before the
   * run returned (its endpoint is written before the container starts).
   */
  const resolvedAfter = async (name: string, start: () => Promise<unknown>) => {
    const poll = run(['-H', 'h2', 'exec', 'pinger', 'sh', '-c', `while ! nslookup ${name} >/dev/null 2>&1; do usleep 20000; done; cut -d" " -f1 /proc/uptime`], 30_000);
    await sleep(1000); // the loop is running
    await start();
    const started = uptime();
    const found = Number((await poll).stdout.trim());
    return Math.round((found - started) * 1000);
  };
  const hostsAlive = async () => {
    const hosts = JSON.parse(await ok(['host', 'ls', '--json'])) as Array<{ name: string; state: 'alive' | 'dead' }>;
    return hosts.filter((h) => h.state === 'alive').map((h) => h.name).sort();
  };

  await t.test('lab status: 3 members with one leader, 2 controllers; every daemon has every member', async (t) => {
    t.equal(first.health, 'running', `healthy: ${first.problems.join('; ')}`);
    t.equal(first.store.url, 'etcds://192.0.2.254:2379,192.0.2.251:2379,192.0.2.250:2379', 'the store URL lists every member (TLS)');
    t.equal(first.store.members.length, 3);
    t.same(first.store.members.map((m) => m.health), ['healthy', 'healthy', 'healthy']);
    t.equal(first.store.members.filter((m) => m.leader).length, 1, 'exactly one leader');
    t.equal(first.store.leader, first.store.members.find((m) => m.leader)?.index);
    t.same(first.controllers.map((c) => [c.name, c.running]), [['ctl', true], ['ctl2', true]]);
    const table = await ok(['lab', 'status']);
    t.match(table, /^etcd 1\s+https:\/\/192\.0\.2\.254:2379\s+\d+\s+healthy/m, 'the table shows each member');
    t.match(table, /leader: member [123]/);
    for (const h of readLab(home, lab).hosts) {
      const cfg = JSON.parse(readFileSync(h.agent.config, 'utf8')) as { store: string };
      t.equal(cfg.store, first.store.url, `the agent of ${h.name} is given every member`);
    }
    const bad = await run(['lab', 'kill', 'store', '--member', '4']);
    t.match(bad.stderr, /has no etcd member 4 \(members: 1-3\)/, 'a member that does not exist is refused, saying which do');
  });

  await ok(['net', 'create', 'net1']);
  await ok(['-H', 'h1', 'run', '-d', '--name', 'web', '--net', 'net1', 'busybox']);
  await ok(['-H', 'h2', 'run', '-d', '--name', 'pinger', '--net', 'net1', 'busybox', 'sh', '-c', PINGER]);
  const warm = await until(async () => (await pings(0, 1e9)).ok >= 3, 15_000, 200);
  if (!warm.value) throw new Error('the pinger on h2 never reached web on h1');

  await t.test('SIGKILL the leader during 200 creates, runs and lease renewals from 3 hosts', async (t) => {
    const before = await status();
    const leader = before.store.leader as number;
    t.ok(leader, `member ${leader} leads`);
    const acked: NetworkSpec[] = [];
    const failed: string[] = [];
    const runs: Array<{ host: string; name: string; ok: boolean }> = [];
    let done = 0;
    let killedAt = 0;
    let newLeaderMs = -1;
    const create = async (sock: string, body: { name: string; subnet?: string; hostSubnetLength?: number; vni?: number }) => {
      try {
        const r = await Promise.race([unixJson<NetworkSpec & { message?: string }>(sock, 'POST', '/v1/networks', body), sleep(30_000).then(() => ({ status: 0, body: undefined }))]);
        if (r.status === 201 && r.body) acked.push(r.body);
        else failed.push(`${body.name}: ${r.status} ${r.body?.message ?? 'no answer'}`);
      } catch (err) {
        failed.push(`${body.name}: ${(err as Error).message}`);
      }
      done++;
    };
    // 3 workers ("hosts"), each alternating controllers: 34 networks from the pool, 33
    // with a subnet and VNI that another worker asks for too (one of each pair may win)
    const worker = async (w: number) => {
      for (let i = 0; i < 67; i++) {
        const sock = sockets[(w + i) % 2] as string;
        if (i % 2 === 0) await create(sock, { name: `a${w}-${i}` });
        else {
          const k = (Math.floor(i / 2) * 3 + w) % 50; // pairs across workers
          await create(sock, { name: `x${w}-${i}`, subnet: `172.20.${k}.0/24`, hostSubnetLength: 26, vni: 100 + k });
        }
        if (i % 22 === 11) {
          const name = `r${w}-${i}`;
          const r = await run(['-H', `h${w}`, 'run', '-d', '--name', name, '--net', 'net1', 'busybox']);
          runs.push({ host: `h${w}`, name, ok: r.code === 0 });
        }
      }
    };
    const killer = (async () => {
      while (done < 60) await sleep(20);
      killedAt = uptime();
      const k = await run(['lab', 'kill', 'store', '--member', String(leader), '--signal', 'KILL']);
      t.equal(k.code, 0, `leader member ${leader} SIGKILLed after ${done} creates: ${k.stderr}`);
      const elected = await until(async () => {
        const s = await status();
        return s.store.leader !== null && s.store.leader !== leader;
      }, 20_000, 250);
      newLeaderMs = Math.round((uptime() - killedAt) * 1000);
      t.ok(elected.value, `a new leader within ${newLeaderMs} ms (as lab status sees it)`);
    })();
    await Promise.all([worker(1), worker(2), worker(3), killer]);
    const endedAt = uptime();
    t.comment(`${acked.length} creates acknowledged, ${failed.length} not${failed.length ? `: ${failed.slice(0, 5).join('; ')}` : ''}`);
    t.ok(acked.length >= 150, `most creates were acknowledged (${acked.length} of 201)`);
    const records = await wholeNetworks(t, 'after the leader kill');
    const byId = new Map(records.map((r) => [r.id, r]));
    const missing = acked.filter((a) => byId.get(a.id)?.subnet !== a.subnet || byId.get(a.id)?.vni !== a.vni);
    t.same(missing.map((m) => m.name), [], 'every acknowledged create exists afterwards, as acknowledged');
    for (const r of runs.filter((x) => x.ok)) {
      t.equal((await run(['-H', r.host, 'inspect', r.name])).code, 0, `acknowledged run ${r.name} on ${r.host} exists`);
    }
    t.same(await hostsAlive(), ['h1', 'h2', 'h3'], 'every host kept its liveness lease');
    const p = await pings(killedAt - 1, endedAt);
    t.ok(p.lost <= 1, `pings by name kept flowing: ${p.ok} ok, ${p.lost} lost at 5/s`);

    const ms = await resolvedAfter('late1', () => ok(['-H', 'h3', 'run', '-d', '--name', 'late1', '--net', 'net1', 'busybox']));
    t.ok(ms <= 1000, `a container started on h3 under the new leader resolves on h2 within 1 s (${ms} ms)`);

    await ok(['lab', 'restart', 'store', '--member', String(leader)]);
    const back = await status();
    t.same(back.store.members.map((m) => m.health), ['healthy', 'healthy', 'healthy'], `member ${leader} rejoined`);
    // the pool networks go: the next tests want room
    await Promise.all([0, 1, 2].map(async (w) => {
      for (const r of records.filter((_, i) => i % 3 === w && _.name !== 'net1')) await unixJson(sockets[w % 2] as string, 'DELETE', `/v1/networks/${r.id}?force=true`);
    }));
  });

  await t.test('a minority member down for 30 s: nothing visible to users', async (t) => {
    const before = await status();
    const victim = before.store.members.find((m) => !m.leader) as MemberJson;
    await ok(['lab', 'kill', 'store', '--member', String(victim.index), '--signal', 'KILL']);
    const from = uptime();
    const s = await status();
    t.equal(s.store.members.find((m) => m.index === victim.index)?.health, 'stopped', `lab status shows member ${victim.index} stopped`);
    t.equal(s.store.leader, before.store.leader, 'the leader stays');
    let i = 0;
    const worst: number[] = [];
    while (uptime() - from < 30) {
      const t0 = Date.now();
      const c = await run(['net', 'create', `min${i}`]);
      t.equal(c.code, 0, `net create min${i} works: ${c.stderr}`);
      if (i % 3 === 0) t.equal((await run(['-H', `h${(i % 3) + 1}`, 'run', '-d', '--name', `min${i}`, '--net', 'net1', 'busybox'])).code, 0, `run min${i}`);
      worst.push(Date.now() - t0);
      i++;
      await sleep(1000);
    }
    t.comment(`${i} creates while member ${victim.index} was down, slowest ${Math.max(...worst)} ms`);
    const p = await pings(from, uptime());
    t.equal(p.lost, 0, `no ping lost (${p.ok} ok)`);
    t.same(await hostsAlive(), ['h1', 'h2', 'h3'], 'every host alive');
    await ok(['lab', 'restart', 'store', '--member', String(victim.index)]);
    t.equal((await status()).health, 'running', 'healthy again once it is back');
  });

  await t.test('a member cut off without a reset (its link down): writes still succeed', async (t) => {
    const s = await status();
    const victim = s.store.members.find((m) => !m.leader) as MemberJson;
    // as a host that vanished: no RST, the connect hangs until ARP gives up
    execFileSync('ip', ['-n', victim.netns, 'link', 'set', 'eth0', 'down']);
    t.teardown(() => execFileSync('ip', ['-n', victim.netns, 'link', 'set', 'eth0', 'up']));
    const times: number[] = [];
    for (let i = 0; i < 6; i++) {
      const t0 = Date.now();
      const c = await run(['net', 'create', `cut${i}`]);
      times.push(Date.now() - t0);
      t.equal(c.code, 0, `net create cut${i} works (${times.at(-1)} ms): ${c.stderr.trim()}`);
    }
    t.comment(`creates with member ${victim.index} cut off: ${times.join(', ')} ms`);
    execFileSync('ip', ['-n', victim.netns, 'link', 'set', 'eth0', 'up']);
  });

  await t.test('the majority down: writes fail with "store unavailable", the data plane forwards, all resumes', async (t) => {
    const s = await status();
    const down = s.store.members.filter((m) => m.leader).concat(s.store.members.filter((m) => !m.leader)).slice(0, 2).map((m) => m.index);
    for (const m of down) await ok(['lab', 'kill', 'store', '--member', String(m), '--signal', 'KILL']);
    const from = uptime();
    const t0 = Date.now();
    const c = await run(['net', 'create', 'maj1'], 60_000);
    const ms = Date.now() - t0;
    t.equal(c.code, 1, 'net create fails');
    t.match(c.stderr, /^vxnet: could not create network "maj1": store unavailable at /, `clearly: ${c.stderr.trim()}`);
    t.equal(c.stderr.trim().split('\n').length, 1, 'in one line');
    t.ok(ms < 30_000, `within the request timeout (${ms} ms)`);
    const st = await run(['lab', 'status']);
    t.match(st.stdout, /no majority: 1 of 3 members answer/, 'lab status says the cluster has no majority');
    await sleep(Math.max(0, 12_000 - ms)); // longer than the agents' liveness TTL
    const p = await pings(from, uptime());
    t.equal(p.lost, 0, `the data plane kept forwarding, names kept resolving (${p.ok} pings ok)`);
    for (const m of down) await ok(['lab', 'restart', 'store', '--member', String(m)]);
    const resumed = await until(async () => (await run(['net', 'create', 'maj2'])).code === 0, 30_000, 500);
    t.ok(resumed.value, `writes resume once a majority is back (${resumed.ms} ms)`);
    const ms2 = await resolvedAfter('late2', () => ok(['-H', 'h1', 'run', '-d', '--name', 'late2', '--net', 'net1', 'busybox']));
    t.ok(ms2 <= 2000, `new containers resolve across hosts again (${ms2} ms)`);
    t.same(await until(async () => (await hostsAlive()).length === 3, 20_000, 500).then(() => hostsAlive()), ['h1', 'h2', 'h3'], 'every host alive again');
    await wholeNetworks(t, 'after the majority loss');
  });

  await t.test('two controllers: kill one during a loop of CLI creates', async (t) => {
    const results: Array<{ name: string; r: RunResult }> = [];
    const loop = (async () => {
      for (let i = 0; i < 14; i++) {
        const name = `c${i}`;
        results.push({ name, r: await run(['net', 'create', name]) });
      }
    })();
    await until(() => results.length >= 4, 60_000, 20);
    const k = await run(['lab', 'kill', 'controller', '--member', '1', '--signal', 'KILL']);
    t.equal(k.code, 0, `controller 1 SIGKILLed after ${results.length} creates`);
    await loop;
    const records = await wholeNetworks(t, 'after the controller kill');
    const names = new Set(records.map((r) => r.name));
    for (const { name, r } of results) {
      if (r.code === 0) t.ok(names.has(name), `${name}: created, and it exists${r.stderr ? ` (${r.stderr.trim()})` : ''}`);
      else {
        t.match(r.stderr, /^vxnet: could not create network/, `${name}: failed with a clear error: ${r.stderr.trim()}`);
        t.equal(r.stderr.trim().split('\n').length, 1, `${name}: one line`);
      }
    }
    t.ok(results.filter((x) => x.r.code === 0).length >= 12, 'the CLI failed over: nearly every create succeeded');
    t.equal((await run(['net', 'ls', '-q'])).code, 0, 'reads fail over too');
    // a hung controller: its share of the request timeout, then the next one
    await ok(['lab', 'restart', 'controller', '--member', '1']);
    await ok(['lab', 'kill', 'controller', '--member', '1', '--signal', 'STOP']);
    const t0 = Date.now();
    const hung = await run(['--request-timeout', '4', 'net', 'create', 'after-stop']);
    t.equal(hung.code, 0, `a create goes to controller 2 after controller 1 gave no answer in its share of 4 s (${Date.now() - t0} ms): ${hung.stderr.trim()}`);
    await ok(['lab', 'kill', 'controller', '--member', '1', '--signal', 'CONT']);
    await sleep(500); // the stopped controller now handles the request it had been sent
    await wholeNetworks(t, 'after the hung controller resumed');
    t.equal(JSON.parse(await ok(['net', 'ls', '--json'])).filter((n: NetworkSpec) => n.name === 'after-stop').length, 1, 'after-stop exists once');
  });
}
