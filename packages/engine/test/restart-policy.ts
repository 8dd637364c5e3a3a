/**
 * Restart policies: parsing of --restart values, docker's restart decisions and
 * back-off (pure, on explicit times), then the Engine applying them on fakes: a
 * runtime whose containers are `sleep` processes that can exit with a chosen code.
 */
import t, { type Test } from 'tap';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createLogger } from '@vxnet/common';
import { parseRestartPolicy, restartPolicyProblem, type RunRequest } from '@vxnet/common/api';
import { Engine } from '../src/engine.js';
import { ImageStore } from '../src/image/images.js';
import { checkRunRequest } from '../src/run-request.js';
import { FIRST_BACKOFF_MS, MAX_BACKOFF_MS, decideAfterExit, decideAtEngineStart, nextBackoff } from '../src/lifecycle/restart-decision.js';
import { containerFiles, type ContainerRecord } from '../src/state/container-record.js';
import { FakeAgent, FakeRuntime, FakeSandboxes } from './helpers/fakes.js';

t.test('--restart values: the four policies, on-failure:N; anything else refused with the reason', async (t) => {
  t.same(parseRestartPolicy('no'), { name: 'no', maximumRetryCount: 0 });
  t.same(parseRestartPolicy('always'), { name: 'always', maximumRetryCount: 0 });
  t.same(parseRestartPolicy('unless-stopped'), { name: 'unless-stopped', maximumRetryCount: 0 });
  t.same(parseRestartPolicy('on-failure'), { name: 'on-failure', maximumRetryCount: 0 });
  t.same(parseRestartPolicy('on-failure:2'), { name: 'on-failure', maximumRetryCount: 2 });
  t.throws(() => parseRestartPolicy('sometimes'), /unknown policy "sometimes" \(expected no, on-failure, always, unless-stopped, on-failure:N\)/);
  t.throws(() => parseRestartPolicy('always:3'), /only on-failure takes a retry count/);
  t.throws(() => parseRestartPolicy('on-failure:-1'), /the retry count "-1" is not a whole number/);
  t.throws(() => parseRestartPolicy('on-failure:x'), /not a whole number/);
  t.throws(() => parseRestartPolicy(''), /unknown policy ""/);
  t.equal(restartPolicyProblem({ name: 'always', maximumRetryCount: 1 }), 'only on-failure takes a retry count (always:1)');
  const what = 'could not create container "x"';
  t.throws(() => checkRunRequest({ image: 'busybox', autoRemove: true, restart: { name: 'always', maximumRetryCount: 0 } }, 'x', what),
    /^could not create container "x": --rm and --restart always conflict/);
  t.ok(checkRunRequest({ image: 'busybox', autoRemove: true, restart: { name: 'no', maximumRetryCount: 0 } }, 'x', what));
});

t.test('decisions after an exit, as docker\'s restart manager', async (t) => {
  const fresh = { restartCount: 0, backoffMs: 0 };
  const exit = (exitCode: number | null, more: { manuallyStopped?: boolean; ranMs?: number } = {}) => ({ exitCode, manuallyStopped: false, ranMs: 50, ...more });
  const always = parseRestartPolicy('always');
  t.same(decideAfterExit(parseRestartPolicy('no'), exit(1), fresh), { restart: false }, 'no: never');
  t.same(decideAfterExit(always, exit(0), fresh), { restart: true, delayMs: 100, next: { restartCount: 1, backoffMs: 100 } }, 'always: after exit 0 too, 100 ms first');
  t.same(decideAfterExit(always, exit(137, { manuallyStopped: true }), fresh), { restart: false }, 'a stop holds it');
  t.same(decideAfterExit(parseRestartPolicy('unless-stopped'), exit(0), fresh), { restart: true, delayMs: 100, next: { restartCount: 1, backoffMs: 100 } });
  t.same(decideAfterExit(parseRestartPolicy('unless-stopped'), exit(0, { manuallyStopped: true }), fresh), { restart: false });

  const twice = parseRestartPolicy('on-failure:2');
  t.same(decideAfterExit(twice, exit(0), fresh), { restart: false }, 'on-failure: not after success');
  t.same(decideAfterExit(twice, exit(1), fresh), { restart: true, delayMs: 100, next: { restartCount: 1, backoffMs: 100 } });
  t.same(decideAfterExit(twice, exit(1), { restartCount: 1, backoffMs: 100 }), { restart: true, delayMs: 200, next: { restartCount: 2, backoffMs: 200 } });
  t.same(decideAfterExit(twice, exit(1), { restartCount: 2, backoffMs: 200 }), { restart: false }, 'two failures restarted: the third stays down');
  t.same(decideAfterExit(twice, exit(null), fresh), { restart: true, delayMs: 100, next: { restartCount: 1, backoffMs: 100 } }, 'an unknown exit code is a failure');
  t.same(decideAfterExit(parseRestartPolicy('on-failure'), exit(1), { restartCount: 500, backoffMs: 100 }),
    { restart: true, delayMs: 200, next: { restartCount: 501, backoffMs: 200 } }, 'on-failure without N: no limit');
});

t.test('back-off: 100 ms doubling to 1 min; reset by a run of 10 s', async (t) => {
  const delays: number[] = [];
  let last = 0;
  for (let i = 0; i < 12; i++) delays.push((last = nextBackoff(last, 500)));
  t.same(delays, [100, 200, 400, 800, 1600, 3200, 6400, 12800, 25600, 51200, 60000, 60000]);
  t.equal(FIRST_BACKOFF_MS, 100);
  t.equal(MAX_BACKOFF_MS, 60_000);
  t.equal(nextBackoff(51_200, 9_999), 60_000, 'a run just under 10 s does not reset it');
  t.equal(nextBackoff(51_200, 10_000), 100, 'one of 10 s does');
});

t.test('decisions at engine start: always even after stop; unless-stopped not after stop; on-failure after a failure', async (t) => {
  const fresh = { restartCount: 0, backoffMs: 0 };
  t.match(decideAtEngineStart(parseRestartPolicy('always'), { exitCode: 143, manuallyStopped: true }, fresh), { restart: true });
  t.same(decideAtEngineStart(parseRestartPolicy('unless-stopped'), { exitCode: 143, manuallyStopped: true }, fresh), { restart: false });
  t.match(decideAtEngineStart(parseRestartPolicy('unless-stopped'), { exitCode: null, manuallyStopped: false }, fresh), { restart: true });
  t.same(decideAtEngineStart(parseRestartPolicy('on-failure'), { exitCode: 0, manuallyStopped: false }, fresh), { restart: false });
  t.match(decideAtEngineStart(parseRestartPolicy('on-failure'), { exitCode: 2, manuallyStopped: false }, fresh), { restart: true });
  t.same(decideAtEngineStart(parseRestartPolicy('no'), { exitCode: 2, manuallyStopped: false }, fresh), { restart: false });
});

// ---- the Engine applying them, on fakes --------------------------------------------

interface Rig {
  engine: Engine;
  runc: FakeRuntime;
  agent: FakeAgent;
  newEngine: () => Engine;
  req: (name: string, more?: Partial<RunRequest>) => RunRequest;
  record: (id: string) => ContainerRecord;
}

async function rig(t: Test): Promise<Rig> {
  const dir = mkdtempSync(join(tmpdir(), 'vxnet-restart-unit-'));
  const rootfs = join(dir, 'rootfs');
  mkdirSync(rootfs);
  const stateDir = join(dir, 'state');
  const log = createLogger({ name: 'restart-test', file: join(dir, 'engine.log'), level: 'debug' });
  const agent = new FakeAgent();
  const runc = new FakeRuntime();
  const sandboxes = new FakeSandboxes();
  const engines: Engine[] = [];
  const newEngine = () => {
    const e = new Engine({ host: 'h1', stateDir, runc, agent, sandboxes, log, agentPollMs: 10, images: new ImageStore({ dir: join(dir, 'images'), busybox: '/bin/busybox', log }) });
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
  return {
    engine, runc, agent, newEngine,
    req: (name, more = {}) => ({ name, rootfs, detach: true, ...more }),
    record: (id) => JSON.parse(readFileSync(containerFiles(stateDir, id).record, 'utf8')) as ContainerRecord,
  };
}

async function until(check: () => boolean, ms = 5000): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) return false;
    await sleep(5);
  }
  return true;
}

t.test('always: an exit is followed by a start in the same sandbox with the same endpoints; stop holds it', async (t) => {
  const r = await rig(t);
  const c = await r.engine.run(r.req('web', { networks: ['net1'], aliases: ['www'], restart: parseRestartPolicy('always') }));
  const endpoints = r.agent.of(c.id).map((e) => `${e.id} ${e.ip} ${e.aliases.join(',')}`);
  r.runc.exit(c.id, 0);
  t.ok(await until(() => r.runc.runs.get(c.id) === 2 && r.engine.inspect('web').running), 'run again');
  const v = r.engine.inspect('web');
  t.equal(v.restartCount, 1);
  t.equal(v.restartPolicy, 'always');
  t.same(r.agent.of(c.id).map((e) => `${e.id} ${e.ip} ${e.aliases.join(',')}`), endpoints, 'same endpoint: same address and aliases');
  t.equal(r.record(c.id).restartCount, 1, 'the count is recorded');

  await r.engine.stop('web', 0);
  await sleep(400);
  t.equal(r.runc.runs.get(c.id), 2, 'not restarted after stop');
  t.equal(r.engine.inspect('web').restarting, false);
  await r.engine.start('web');
  t.equal(r.engine.inspect('web').restartCount, 0, 'start resets the count');
  r.runc.exit(c.id, 1);
  t.ok(await until(() => r.runc.runs.get(c.id) === 4), 'start re-arms the policy');
});

t.test('on-failure:2: two failures restarted, the third stays exited; a success is not restarted', async (t) => {
  const r = await rig(t);
  const c = await r.engine.run(r.req('job', { restart: parseRestartPolicy('on-failure:2') }));
  for (let n = 2; n <= 3; n++) {
    r.runc.exit(c.id, 3);
    t.ok(await until(() => r.runc.runs.get(c.id) === n && r.engine.inspect('job').running), `failure ${n - 1}: run ${n}`);
  }
  r.runc.exit(c.id, 3);
  t.ok(await until(() => r.engine.inspect('job').status === 'exited'));
  await sleep(600); // longer than the back-off (400 ms) a third restart would wait
  const v = r.engine.inspect('job');
  t.match(v, { status: 'exited', exitCode: 3, restarting: false, restartCount: 2 }, 'stays exited after the third failure');
  t.equal(r.runc.runs.get(c.id), 3);

  const ok = await r.engine.run(r.req('ok', { restart: parseRestartPolicy('on-failure') }));
  r.runc.exit(ok.id, 0);
  t.ok(await until(() => r.engine.inspect('ok').status === 'exited'));
  await sleep(300);
  t.equal(r.runc.runs.get(ok.id), 1, 'exit 0 is not restarted');
});

t.test('a pending restart shows as restarting; stop cancels it; rm -f of a restarting container restarts nothing', async (t) => {
  const r = await rig(t);
  const c = await r.engine.run(r.req('flappy', { restart: parseRestartPolicy('always') }));
  // the back-off doubles while runs stay short: after 3 quick exits it is 800 ms
  for (let n = 2; n <= 4; n++) {
    r.runc.exit(c.id, 1);
    t.ok(await until(() => r.runc.runs.get(c.id) === n && r.engine.inspect('flappy').running), `run ${n}`);
  }
  r.runc.exit(c.id, 1);
  t.ok(await until(() => r.engine.inspect('flappy').restarting), 'restarting during the back-off');
  await r.engine.stop('flappy', 0);
  t.equal(r.engine.inspect('flappy').restarting, false, 'stop cancels the pending restart');
  await sleep(1000);
  t.equal(r.runc.runs.get(c.id), 4, 'and it never came');

  const d = await r.engine.run(r.req('doomed', { restart: parseRestartPolicy('always') }));
  await r.engine.remove('doomed', true);
  await sleep(300);
  t.equal(r.runc.runs.get(d.id), 1, 'rm -f: no restart');
  t.throws(() => r.engine.inspect('doomed'), /no such container/);
});

t.test('engine start: always containers that died meanwhile run again; unless-stopped ones that were stopped do not', async (t) => {
  const r = await rig(t);
  const a = await r.engine.run(r.req('a', { restart: parseRestartPolicy('always') }));
  const u = await r.engine.run(r.req('u', { restart: parseRestartPolicy('unless-stopped') }));
  const n = await r.engine.run(r.req('n'));
  await r.engine.stop('u', 0);
  r.engine.close(); // the engine stops; its containers die while it is down
  r.runc.exit(a.id, 137);
  r.runc.exit(n.id, 137);
  await sleep(50);
  const again = r.newEngine();
  await again.load();
  t.ok(await until(() => again.inspect('a').running), 'always: running again');
  t.equal(r.runc.runs.get(a.id), 2);
  await sleep(300);
  t.equal(again.inspect('u').status, 'exited', 'unless-stopped, stopped: stays down');
  t.equal(again.inspect('n').status, 'exited', 'no policy: stays down');
  t.equal(r.runc.runs.get(n.id), 1);
});

t.test('run --rm detached: removed when it exits, endpoints and all', async (t) => {
  const r = await rig(t);
  const c = await r.engine.run(r.req('tmp', { networks: ['net1'], autoRemove: true }));
  t.equal(r.agent.of(c.id).length, 1);
  r.runc.exit(c.id, 0);
  t.ok(await until(() => r.engine.list(true).length === 0), 'gone from the list');
  t.equal(r.agent.of(c.id).length, 0, 'its endpoint removed');
});
