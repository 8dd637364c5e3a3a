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
import { FakeAgent, FakeRuntime, FakeSandboxes } from './helpers/fakes.js';

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

async function rig(t: Test, opts: { pollMs?: number } = {}): Promise<Rig> {
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
      host: 'h1', stateDir, runc, agent, sandboxes, log, agentPollMs: opts.pollMs ?? 10,
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
