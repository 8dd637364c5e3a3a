/**
 * The Engine's decisions on fakes (no root): a run rolled back at each step leaves
 * nothing behind; rm and the rollback of a half-made container touch only what the
 * record names; load() refuses an unreadable record before touching anything; the
 * endpoint reconcile removes exactly the orphans the engine owns.
 */
import t, { type Test } from 'tap';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { VxnetError, createLogger } from '@vxnet/common';
import type { RunRequest } from '@vxnet/common/api';
import { Engine } from '../src/engine.js';
import { ImageStore } from '../src/image/images.js';
import { containerFiles, containersDir, type ContainerRecord } from '../src/state/container-record.js';
import { buildApi } from '../src/api/server.js';
import { daemonMetrics } from '@vxnet/common/metrics';
import { EngineMetrics, type EngineMetricsSink } from '../src/metrics/engine-metrics.js';
import { FAKE_UNDERLAY_IP, FakeAgent, FakeRuntime, FakeSandboxes } from './helpers/fakes.js';

interface Rig {
  dir: string;
  stateDir: string;
  agent: FakeAgent;
  runc: FakeRuntime;
  sandboxes: FakeSandboxes;
  engine: Engine;
  /** A new Engine on the same state and fakes (a restart), loaded by the caller. */
  newEngine: () => Engine;
  req: (name: string, more?: Partial<RunRequest>) => RunRequest;
  /** What exists at each seam. */
  footprint: () => { dirs: string[]; sandboxes: string[]; endpoints: string[]; runc: string[] };
  logs: () => Array<{ msg: string; [k: string]: unknown }>;
  record: (id: string) => ContainerRecord;
}

async function rig(t: Test, opts: { pollMs?: number; metrics?: EngineMetricsSink } = {}): Promise<Rig> {
  const dir = mkdtempSync(join(tmpdir(), 'vxnet-engine-unit-'));
  const rootfs = join(dir, 'rootfs');
  mkdirSync(rootfs);
  const stateDir = join(dir, 'state');
  const logFile = join(dir, 'engine.log');
  const log = createLogger({ name: 'engine-test', file: logFile, level: 'debug' });
  const agent = new FakeAgent();
  const runc = new FakeRuntime();
  const sandboxes = new FakeSandboxes();
  const engines: Engine[] = [];
  const newEngine = () => {
    const e = new Engine({
      host: 'h1', stateDir, runc, agent, sandboxes, log, agentPollMs: opts.pollMs ?? 10, ...(opts.metrics ? { metrics: opts.metrics } : {}),
      images: new ImageStore({ dir: join(dir, 'images'), busybox: '/bin/busybox', log }),
    });
    engines.push(e);
    return e;
  };
  const engine = newEngine();
  await engine.load();
  t.teardown(() => {
    for (const e of engines) e.close();
    runc.killAll();
    rmSync(dir, { recursive: true, force: true });
  });
  const ls = (d: string) => (existsSync(d) ? readdirSync(d).sort() : []);
  return {
    dir, stateDir, agent, runc, sandboxes, engine, newEngine,
    req: (name, more = {}) => ({ name, rootfs, detach: true, ...more }),
    footprint: () => ({ dirs: ls(containersDir(stateDir)), sandboxes: [...sandboxes.existing].sort(), endpoints: [...agent.endpoints.keys()].sort(), runc: [...runc.state.keys()].sort() }),
    logs: () => readFileSync(logFile, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l)),
    record: (id) => JSON.parse(readFileSync(containerFiles(stateDir, id).record, 'utf8')) as ContainerRecord,
  };
}

async function until(check: () => boolean, ms = 3000): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) return false;
    await sleep(5);
  }
  return true;
}

const notFound = () => new VxnetError('VXNET_NETWORK_NOT_FOUND', 404, 'network "net2" not found');

t.test('a run records its sandbox before making it and asks for endpoints as "engine"', async (t) => {
  const r = await rig(t);
  let recordedFirst: boolean | undefined;
  const ensure = r.sandboxes.ensure.bind(r.sandboxes);
  r.sandboxes.ensure = async (name) => {
    const id = readdirSync(containersDir(r.stateDir))[0] as string;
    recordedFirst = r.record(id).netns === name;
    return ensure(name);
  };
  const c = await r.engine.run(r.req('web', { networks: ['net1', 'net2'] }));
  t.equal(recordedFirst, true, 'the record named the sandbox when ensure was called');
  t.same(r.agent.of(c.id).map((e) => [e.owner, e.ifname]), [['engine', 'eth0'], ['engine', 'eth1']]);
  t.same(r.record(c.id).endpoints.map((e) => e.endpointId).sort(), r.agent.of(c.id).map((e) => e.id).sort());
  t.same(r.footprint().runc, [c.id]);
});

t.test('metrics: containers by state at scrape time, run times and failures counted', async (t) => {
  const m = daemonMetrics('engine', 'test');
  let engine: Engine | undefined;
  const metrics = new EngineMetrics(m, () => engine?.stateCounts() ?? { creating: 0, running: 0, exited: 0 });
  const r = await rig(t, { metrics });
  engine = r.engine;
  const value = async (series: string) => {
    const line = (await m.registry.metrics()).split('\n').find((l) => l.startsWith(`${series} `));
    return line === undefined ? undefined : Number(line.split(' ')[1]);
  };
  const web = await r.engine.run(r.req('web', { networks: ['net1'] }));
  t.equal(await value('vxnet_engine_containers{state="running"}'), 1);
  t.equal(await value('vxnet_engine_container_start_seconds_count'), 1);
  r.runc.failNextRun = true;
  await t.rejects(r.engine.run(r.req('db', { networks: ['net1'] })));
  t.equal(await value('vxnet_engine_container_start_failures_total'), 1);
  t.equal(await value('vxnet_engine_container_start_seconds_count'), 1, 'a failed run is not a start time');
  await r.engine.stop(web.id, 0);
  t.equal(await value('vxnet_engine_containers{state="running"}'), 0);
  t.equal(await value('vxnet_engine_containers{state="exited"}'), 1);
  t.notMatch(await m.registry.metrics(), new RegExp(web.id.slice(0, 12)), 'no container id anywhere');
});

t.test('a run that fails at any step leaves nothing behind, and its name free', async (t) => {
  const cases: Array<{ step: string; arrange: (r: Rig) => void; afterwards?: (r: Rig) => void }> = [
    { step: 'sandbox made, lo not up', arrange: (r) => void (r.sandboxes.failNextEnsure = true) },
    { step: 'first endpoint refused', arrange: (r) => r.agent.failAt('createEndpoint', 1, notFound()) },
    { step: 'second endpoint refused', arrange: (r) => r.agent.failAt('createEndpoint', 2, notFound()) },
    { step: 'agent unreachable at the second endpoint', arrange: (r) => r.agent.failAt('createEndpoint', 2, 'unreachable') },
    { step: 'second endpoint made, answer lost (agent stays up)', arrange: (r) => r.agent.failAt('createEndpoint', 2, 'timeout') },
    {
      step: 'second endpoint made, agent died before answering; back (restarted) later',
      arrange: (r) => r.agent.failAt('createEndpoint', 2, 'lost-answer'),
      afterwards: (r) => r.agent.restart(),
    },
    {
      step: 'first endpoint made, agent died, back later with the same instance',
      arrange: (r) => r.agent.failAt('createEndpoint', 1, 'lost-answer'),
      afterwards: (r) => void (r.agent.down = false),
    },
    { step: 'runc run fails', arrange: (r) => void (r.runc.failNextRun = true) },
  ];
  for (const c of cases) {
    await t.test(c.step, async (t) => {
      const r = await rig(t);
      const before = r.footprint();
      c.arrange(r);
      await t.rejects(r.engine.run(r.req('web', { networks: ['net1', 'net2'] })));
      c.afterwards?.(r);
      t.ok(await until(() => r.agent.endpoints.size === 0), 'no endpoint left at the agent (after the reconcile, when it was down)');
      t.same(r.footprint(), before, 'no directory, sandbox, endpoint or runc state');
      t.ok(r.sandboxes.deleted.every((n) => n.startsWith('vxnet-s-')), 'deleted only its own sandbox');
      const again = await r.engine.run(r.req('web', { networks: ['net1'] }));
      t.equal(again.status, 'running', 'the name can be used again');
    });
  }
});

t.test('rm removes what the record names and nothing else', async (t) => {
  const r = await rig(t);
  const c1 = await r.engine.run(r.req('c1', { networks: ['net1'] }));
  const c2 = await r.engine.run(r.req('c2', { networks: ['net1'] }));
  const host = await r.engine.run(r.req('hostnet', { networks: ['host'] }));
  const cni = r.agent.add({ container: randomBytes(32).toString('hex'), owner: 'cni' });
  r.sandboxes.existing.add('vxnet-foreign');
  // a namespace with the name a sandbox of `host` would have: not its own (host mode has none)
  r.sandboxes.existing.add(r.sandboxes.name(host.id));
  const before = r.footprint();

  await r.engine.remove('c1', true);
  await r.engine.remove('hostnet', true);
  const after = r.footprint();
  t.same(after.sandboxes, before.sandboxes.filter((n) => n !== r.sandboxes.name(c1.id)), 'only c1 sandbox deleted');
  t.same(r.sandboxes.deleted, [r.sandboxes.name(c1.id)]);
  t.same(after.endpoints, [...r.agent.of(c2.id).map((e) => e.id), cni.id].sort(), "c2's and the CNI endpoint remain");
  t.same(after.runc, [c2.id]);
  t.same(after.dirs, [c2.id]);
});

t.test('rm with the agent down: the container goes, its endpoints once the agent is back', async (t) => {
  const r = await rig(t);
  const c = await r.engine.run(r.req('c1', { networks: ['net1'] }));
  r.agent.down = true;
  await r.engine.remove('c1', true);
  t.same(r.footprint().dirs, []);
  t.equal(r.agent.of(c.id).length, 1, 'endpoint still at the (dead) agent');
  r.agent.restart();
  t.ok(await until(() => r.agent.of(c.id).length === 0), 'removed by the reconcile');
});

t.test('load() refuses an unreadable record and touches nothing', async (t) => {
  const bad: Array<[string, (file: string, dir: string) => void, RegExp]> = [
    ['truncated JSON', (f) => writeFileSync(f, readFileSync(f, 'utf8').slice(0, 40)), /not JSON/],
    ['not a record', (f) => writeFileSync(f, '[]'), /not a container record/],
    ['id of another directory', (f) => writeFileSync(f, readFileSync(f, 'utf8').replace(/"id": "[0-9a-f]{64}"/, `"id": "${'0'.repeat(64)}"`)), /is not the directory's/],
    ['record gone, other files remain', (f) => rmSync(f), /it is missing, but/],
    ['record is a directory', (f) => { rmSync(f); mkdirSync(f); }, /EISDIR/],
  ];
  for (const [what, corrupt, why] of bad) {
    await t.test(what, async (t) => {
      const r = await rig(t, { pollMs: 60_000 });
      const c1 = await r.engine.run(r.req('c1', { networks: ['net1'] }));
      await r.engine.run(r.req('c2', { networks: ['none'] }));
      r.engine.close();
      // a half-made container the next start would roll back, were it not for c1
      const half = { ...r.record(c1.id), id: randomBytes(32).toString('hex'), name: 'half', status: 'creating', netns: 'vxnet-s-half', endpoints: [] };
      r.sandboxes.existing.add('vxnet-s-half');
      mkdirSync(containerFiles(r.stateDir, half.id).dir);
      writeFileSync(containerFiles(r.stateDir, half.id).record, JSON.stringify(half));
      const file = containerFiles(r.stateDir, c1.id).record;
      corrupt(file, containerFiles(r.stateDir, c1.id).dir);
      const before = r.footprint();
      const calls = r.agent.calls.length;

      const err = await r.newEngine().load().then(() => undefined, (e: unknown) => e as Error);
      t.ok(err, 'load() throws');
      t.equal((err as VxnetError).code, 'VXNET_CONTAINER_RECORD_UNREADABLE');
      t.match(err?.message, file, 'names the file');
      t.match(err?.message, why);
      t.match(err?.message, /nothing was removed.*restore or repair that file/);
      t.notMatch(err?.message, /\n/, 'one line');
      t.same(r.footprint(), before, 'no directory, sandbox, endpoint or runc state removed');
      t.same(r.agent.calls.slice(calls), [], 'the agent was not even asked');
      t.same(r.sandboxes.deleted, []);
      t.same(r.runc.deleted, []);
    });
  }
});

t.test('load() rolls back a readable half-made container: what it records, nothing more', async (t) => {
  const r = await rig(t, { pollMs: 60_000 });
  const c1 = await r.engine.run(r.req('c1', { networks: ['net1'] }));
  r.engine.close();
  const rec = r.record(c1.id);
  rec.status = 'creating';
  writeFileSync(containerFiles(r.stateDir, c1.id).record, JSON.stringify(rec));
  // an endpoint the agent made for it whose answer never came back (not in the record)
  const stray = r.agent.add({ container: c1.id, owner: 'engine' });
  const other = r.agent.add({ container: c1.id, owner: 'cni' });
  // a run that stopped before its first record: an empty directory with a temp file
  const unfinished = containerFiles(r.stateDir, randomBytes(32).toString('hex'));
  mkdirSync(unfinished.dir);
  writeFileSync(`${unfinished.record}.123.tmp`, '{');

  await r.newEngine().load();
  t.same(r.footprint(), { dirs: [], sandboxes: [], endpoints: [other.id], runc: [] }, 'its sandbox, endpoints (recorded and stray), runc state and directory are gone');
  t.notOk(r.agent.endpoints.has(stray.id));
  t.same(r.sandboxes.deleted, [rec.netns]);
});

t.test('reconcile: exactly the orphans the engine owns go', async (t) => {
  const r = await rig(t);
  const c1 = await r.engine.run(r.req('c1', { networks: ['net1'] }));
  const hex = () => randomBytes(32).toString('hex');
  const orphan = r.agent.add({ container: hex(), owner: 'engine' });
  const legacy = r.agent.add({ container: hex() }); // made before owners existed
  const unrecorded = r.agent.add({ container: c1.id, owner: 'engine', networkName: 'net2' });
  const cni = r.agent.add({ container: hex(), owner: 'cni' });
  const byName = r.agent.add({ container: 'web' });
  const keep = [...r.agent.of(c1.id).filter((e) => e.id !== unrecorded.id).map((e) => e.id), cni.id, byName.id].sort();
  r.agent.restart();
  t.ok(await until(() => !r.agent.endpoints.has(orphan.id) && !r.agent.endpoints.has(legacy.id) && !r.agent.endpoints.has(unrecorded.id)), 'orphans deleted');
  t.same(r.footprint().endpoints, keep, "c1's recorded endpoint, the CNI's and a non-engine one by name remain");
  const removed = r.logs().filter((l) => l.msg === 'removed an endpoint that no container of this engine explains');
  t.same(removed.map((l) => (l.endpoint as { id: string }).id).sort(), [orphan.id, legacy.id, unrecorded.id].sort(), 'each one logged');
});

t.test('reconcile: a recorded endpoint the agent lost is reported, not recreated', async (t) => {
  const r = await rig(t);
  const c1 = await r.engine.run(r.req('c1', { networks: ['net1'] }));
  const [ep] = r.agent.of(c1.id);
  r.agent.endpoints.clear();
  r.agent.restart();
  t.ok(await until(() => r.logs().some((l) => /no longer has an endpoint/.test(l.msg))), 'warned');
  const warn = r.logs().find((l) => /no longer has an endpoint/.test(l.msg));
  t.same(warn?.container, { id: c1.id.slice(0, 12), name: 'c1' });
  t.equal((warn?.endpoint as { id: string }).id, ep?.id);
  t.equal(r.agent.endpoints.size, 0, 'not recreated');
  t.equal(r.record(c1.id).endpoints.length, 1, 'the record is left as it is');
});

t.test('reconcile leaves a run in flight alone', async (t) => {
  const r = await rig(t);
  let release!: () => void;
  let blocked!: () => void;
  const isBlocked = new Promise<void>((resolve) => (blocked = resolve));
  r.agent.failAt('createEndpoint', 2, () => {
    blocked();
    return new Promise<void>((resolve) => (release = resolve));
  });
  const run = r.engine.run(r.req('slow', { networks: ['net1', 'net2'] }));
  await isBlocked;
  const [first] = [...r.agent.endpoints.values()];
  const passes = r.agent.calls.filter((c) => c.method === 'listEndpoints').length;
  r.agent.restart();
  t.ok(await until(() => r.agent.calls.filter((c) => c.method === 'listEndpoints').length > passes + 1), 'reconcile passes ran meanwhile');
  t.ok(first && r.agent.endpoints.has(first.id), 'the in-flight endpoint was kept');
  release();
  const c = await run;
  t.equal(c.networks.length, 2);
  await sleep(50);
  t.equal(r.agent.of(c.id).length, 2, 'both endpoints remain once the run is done');
});

t.test('connect without an answer: the endpoint the agent made anyway is removed', async (t) => {
  for (const how of ['timeout', 'lost-answer'] as const) {
    await t.test(how, async (t) => {
      const r = await rig(t);
      const c1 = await r.engine.run(r.req('c1', { networks: ['net1'] }));
      const recorded = r.agent.of(c1.id).map((e) => e.id);
      r.agent.failAt('createEndpoint', 1, how);
      await t.rejects(r.engine.connect('c1', 'net2'), /could not reach the agent/);
      if (how === 'lost-answer') r.agent.restart();
      t.ok(await until(() => r.agent.of(c1.id).length === 1), 'only the recorded endpoint is left');
      t.same(r.agent.of(c1.id).map((e) => e.id), recorded);
      t.same(r.record(c1.id).endpoints.map((e) => e.endpointId), recorded, 'record unchanged');
    });
  }
});

// ---- published ports (-p) ------------------------------------------------------

const P8080 = { hostPort: 8080, containerPort: 80, protocol: 'tcp' as const };
const P53 = { hostIp: '192.0.2.7', hostPort: 5353, containerPort: 53, protocol: 'udp' as const };
/** The agent endpoints of container `id` that publish ports. */
const publishing = (r: Rig, id: string) => r.agent.of(id).filter((e) => (e.ports?.length ?? 0) > 0);

t.test('ports: asked on the first network\'s endpoint only, recorded, shown as asked and as published', async (t) => {
  const r = await rig(t);
  const c = await r.engine.run(r.req('web', { networks: ['net1', 'net2'], ports: [P8080, P53] }));
  const eps = r.agent.of(c.id).sort((a, b) => a.ifname.localeCompare(b.ifname));
  t.same(eps.map((e) => [e.ifname, e.ports ?? []]), [
    ['eth0', [{ hostIp: FAKE_UNDERLAY_IP, ...P8080 }, P53]],
    ['eth1', []],
  ], 'the agent got them on eth0 (net1) and resolved the host address');
  const rec = r.record(c.id);
  t.same(rec.endpoints[0]?.ports, [P8080, P53], 'recorded as asked');
  t.same(rec.endpoints[0]?.published, [{ hostIp: FAKE_UNDERLAY_IP, ...P8080 }, P53], 'and as the agent holds them');
  t.equal(rec.endpoints[1]?.ports, undefined);
  t.same(c.ports, [P8080, P53]);
  t.same(c.publishedPorts, [{ hostIp: FAKE_UNDERLAY_IP, ...P8080 }, P53]);
  t.same(c.networks.map((n) => n.ports.length), [2, 0]);
  t.same(r.engine.list(false)[0]?.publishedPorts, c.publishedPorts, 'ps shows them');
  t.same(r.engine.inspect('web').ports, [P8080, P53], 'inspect shows them');
});

t.test('ports: stop withdraws them, start publishes them again on the same address; rm leaves nothing', async (t) => {
  const r = await rig(t);
  const c = await r.engine.run(r.req('web', { networks: ['net1', 'net2'], ports: [P8080] }));
  const first = r.agent.of(c.id).find((e) => e.ifname === 'eth0');
  const other = r.agent.of(c.id).find((e) => e.ifname === 'eth1');
  const stopped = await r.engine.stop('web', 1);
  t.same(publishing(r, c.id), [], 'no endpoint publishes ports at the agent');
  t.same(r.agent.of(c.id).map((e) => e.id), [other?.id], 'the other network\'s endpoint stays (its address kept)');
  t.same(stopped.publishedPorts, [], 'nothing published while stopped');
  t.same(stopped.ports, [P8080], 'still asked for');
  t.equal(r.record(c.id).endpoints[0]?.released, true, 'recorded as released');
  await sleep(50);
  t.equal(r.logs().filter((l) => l.msg.startsWith('the agent no longer has')).length, 0, 'the reconcile does not report the released endpoint missing');

  const started = await r.engine.start('web');
  const again = r.agent.of(c.id).find((e) => e.ifname === 'eth0');
  t.not(again?.id, first?.id, 'a new endpoint');
  t.same([again?.ip, again?.networkId, again?.name, again?.owner], [first?.ip, first?.networkId, first?.name, 'engine'], 'same address, network, name and owner');
  t.same(again?.ports, [{ hostIp: FAKE_UNDERLAY_IP, ...P8080 }], 'the same ports');
  t.same(started.publishedPorts, [{ hostIp: FAKE_UNDERLAY_IP, ...P8080 }]);
  t.same(started.networks.map((n) => n.ip), c.networks.map((n) => n.ip), 'every address as before');
  const rec = r.record(c.id);
  t.equal(rec.endpoints[0]?.endpointId, again?.id, 'the record names the new endpoint');
  t.equal(rec.endpoints[0]?.released, undefined);
  await sleep(50);
  t.equal(r.agent.of(c.id).length, 2, 'the reconcile leaves the new endpoint alone');

  await r.engine.remove('web', true);
  t.same(r.footprint(), { dirs: [], sandboxes: [], endpoints: [], runc: [] }, 'rm: nothing left');
});

t.test('ports: a container that exits by itself withdraws them; an engine restarted meanwhile too', async (t) => {
  const r = await rig(t);
  const c = await r.engine.run(r.req('web', { networks: ['net1'], ports: [P8080] }));
  r.runc.state.get(c.id)?.kill('SIGKILL');
  t.ok(await until(() => publishing(r, c.id).length === 0), 'gone after the exit is noticed');
  t.equal(r.record(c.id).endpoints[0]?.released, true);

  await r.engine.start('web');
  t.equal(publishing(r, c.id).length, 1, 'published again by start');
  r.engine.close();
  r.runc.state.get(c.id)?.kill('SIGKILL'); // exits while no engine runs
  await until(() => r.runc.state.get(c.id)?.exitCode !== null);
  const e2 = r.newEngine();
  await e2.load();
  t.ok(await until(() => publishing(r, c.id).length === 0), 'withdrawn by the next engine at load');
  t.equal(e2.inspect('web').status, 'exited');
});

t.test('ports: start refused when the port was taken meanwhile; the container stays stopped, nothing published', async (t) => {
  const r = await rig(t);
  const c1 = await r.engine.run(r.req('c1', { networks: ['net1'], ports: [P8080] }));
  await t.rejects(r.engine.run(r.req('c2', { networks: ['net1'], ports: [P8080] })), {
    code: 'VXNET_PORT_IN_USE', message: /^could not create container "c2": port 192\.0\.2\.1:8080\/tcp is in use by endpoint "c1"$/,
  }, 'a second container asking for the same port is refused');
  await r.engine.stop('c1', 1);
  const c2 = await r.engine.run(r.req('c2', { networks: ['net1'], ports: [P8080] }));
  t.equal(c2.publishedPorts.length, 1, 'free once c1 stopped');
  await t.rejects(r.engine.start('c1'), { code: 'VXNET_PORT_IN_USE', message: /^could not start container "c1": port 192\.0\.2\.1:8080\/tcp is in use by endpoint "c2"$/ });
  t.equal(r.engine.inspect('c1').status, 'exited', 'c1 stays stopped');
  t.same(publishing(r, c1.id), [], 'and publishes nothing');
  t.equal(r.record(c1.id).endpoints[0]?.released, true, 'still released');
  await r.engine.remove('c2', true);
  t.equal((await r.engine.start('c1')).publishedPorts.length, 1, 'starts once the port is free');
});

t.test('ports: a start whose process fails withdraws them again', async (t) => {
  const r = await rig(t);
  const c = await r.engine.run(r.req('web', { networks: ['net1'], ports: [P8080] }));
  await r.engine.stop('web', 1);
  r.runc.failNextRun = true;
  await t.rejects(r.engine.start('web'), /could not start container "web"/);
  t.same(publishing(r, c.id), [], 'nothing published');
  t.equal(r.record(c.id).endpoints[0]?.released, true);
  t.equal((await r.engine.start('web')).publishedPorts.length, 1, 'a later start publishes them');
});

t.test('ports: withdrawn at stop with the agent not answering: stop succeeds, the reconcile removes the endpoint', async (t) => {
  const r = await rig(t);
  const c = await r.engine.run(r.req('web', { networks: ['net1'], ports: [P8080] }));
  r.agent.failAt('deleteEndpoint', 1, 'unreachable');
  const stopped = await r.engine.stop('web', 1);
  t.equal(stopped.status, 'exited');
  t.same(stopped.publishedPorts, []);
  t.ok(await until(() => publishing(r, c.id).length === 0), 'the released endpoint goes with the next reconcile');
  t.ok(r.logs().some((l) => l.msg === 'removed an endpoint that no container of this engine explains'), 'as an orphan');
});

t.test('ports: refused before anything is made, or by the agent with nothing left', async (t) => {
  const r = await rig(t);
  const before = r.footprint();
  const cases: Array<[Partial<RunRequest>, RegExp]> = [
    [{ networks: ['host'], ports: [P8080] }, /^could not create container "web": -p needs an overlay network \(--net NET\)/],
    [{ ports: [P8080] }, /-p needs an overlay network/],
    [{ networks: ['net1'], ports: [P8080, { ...P8080, containerPort: 81 }] }, /: host port 8080\/tcp is published twice$/],
    [{ networks: ['net1'], ports: [{ ...P8080, hostIp: '192.0.2' }] }, /: invalid published port 192\.0\.2:8080->80\/tcp: host IP "192\.0\.2" is not an IPv4 address$/],
    [{ networks: ['internal', 'net1'], ports: [P8080] }, /^could not create container "web": network "internal" is internal: no ports can be published on it$/],
  ];
  for (const [req, re] of cases) {
    await t.rejects(r.engine.run(r.req('web', req)), { message: re }, re.source);
    t.same(r.footprint(), before, 'nothing left');
  }
  t.equal(r.agent.calls.filter((c) => c.method === 'createEndpoint').length, 1, 'only the internal network reached the agent');
});

t.test('the API: ports checked by the agent\'s schema, expose and unexpose passed through as the agent answers', async (t) => {
  const r = await rig(t);
  const app = buildApi(r.engine, 'h1', createLogger({ name: 'api-test', file: join(r.dir, 'api.log') }));
  t.teardown(() => app.close());
  const run = (body: unknown) => app.inject({ method: 'POST', url: '/v1/containers', payload: body as Record<string, unknown> });
  for (const ports of [[{ ...P8080, hostPort: 0 }], [{ ...P8080, protocol: 'sctp' }], [{ ...P8080, extra: 1 }], [{ hostPort: 1, protocol: 'tcp' }]]) {
    const res = await run({ ...r.req('web', { networks: ['net1'] }), ports });
    t.equal(res.statusCode, 400, JSON.stringify(ports));
  }
  const ok = await run({ ...r.req('web', { networks: ['net1'] }), ports: [P8080] });
  t.equal(ok.statusCode, 201);
  t.same(ok.json().publishedPorts, [{ hostIp: FAKE_UNDERLAY_IP, ...P8080 }]);

  const exposed = await app.inject({ method: 'POST', url: '/v1/networks/net1/expose' });
  t.equal(exposed.statusCode, 200);
  t.same(exposed.json(), { network: 'id-net1', networkName: 'net1', ip: r.agent.exposed.get('net1'), prefixLength: 24 });
  t.same((await app.inject({ method: 'POST', url: '/v1/networks/net1/expose' })).json(), exposed.json(), 'idempotent: the same address');
  const missing = await app.inject({ method: 'POST', url: '/v1/networks/missing/expose' });
  t.same([missing.statusCode, missing.json().code], [404, 'VXNET_NETWORK_NOT_FOUND'], 'the agent\'s error as it is');
  const un = await app.inject({ method: 'DELETE', url: '/v1/networks/net1/expose' });
  t.same([un.statusCode, un.json().ip], [200, exposed.json().ip]);
  const again = await app.inject({ method: 'DELETE', url: '/v1/networks/net1/expose' });
  t.same([again.statusCode, again.json()], [404, { code: 'VXNET_NOT_EXPOSED', message: 'network "net1" is not exposed on this host' }]);
  r.agent.down = true;
  t.equal((await app.inject({ method: 'POST', url: '/v1/networks/net1/expose' })).statusCode, 503, 'agent not answering: 503');
});
