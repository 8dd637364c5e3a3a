/**
 * The vxnet-controller process as it runs on a host, on a real etcd: which listener
 * asks for the token, the token file it generates, the unix socket's mode. Requests go
 * through the real TCP listener on loopback and the real unix socket.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import t, { type Test } from 'tap';
import { isAlive, keys, spawnDaemon, stopProcess, type ProcessRecord } from '@vxnet/common';
import { EtcdStore } from '@vxnet/common/etcd';
import { etcdMissing, freePort, startTestEtcd, unixJson, type TestEtcd } from '@vxnet/common/testing';

const CONTROLLER = fileURLToPath(new URL('../../bin/vxnet-controller.js', import.meta.url));

interface Started {
  proc: ProcessRecord;
  socket: string;
  port: number;
  logFile: string;
}

/** A request over TCP to 127.0.0.1:port; `token` undefined sends no Authorization header. */
async function tcp(port: number, method: string, path: string, token?: string, body?: unknown): Promise<{ status: number; json: any }> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, {
    method,
    headers: { ...(token !== undefined ? { authorization: `Bearer ${token}` } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : undefined };
}

const missing = etcdMissing();
if (missing) {
  t.plan(0, `skip: ${missing}`);
} else {
  const dir = await mkdtemp(join(tmpdir(), 'vxnet-controller-bin-'));
  const procs: ProcessRecord[] = [];
  let etcd: TestEtcd | undefined;
  t.teardown(async () => {
    for (const p of procs) await stopProcess(p);
    await etcd?.destroy();
    await rm(dir, { recursive: true, force: true });
  });
  etcd = await startTestEtcd('vxnet-controller-bin');
  const endpoint = etcd.storeUrl;

  /** Start the controller; resolves when it answers on its socket, or with its exit. */
  async function start(name: string, extra: string[]): Promise<Started> {
    const socket = join(dir, `${name}.sock`);
    const logFile = join(dir, `${name}.log`);
    const port = await freePort();
    const proc = spawnDaemon({
      command: process.execPath,
      args: [CONTROLLER, '--store', endpoint, '--store-prefix', `/${name}/`, '--socket', socket, '--listen', `127.0.0.1:${port}`, '--plaintext', ...extra],
      logFile,
      env: Object.fromEntries(Object.entries(process.env).filter((e): e is [string, string] => e[1] !== undefined && !e[0].startsWith('VXNET_') && e[0] !== 'NODE_OPTIONS')),
    });
    procs.push(proc);
    const deadline = Date.now() + 15_000;
    while (isAlive(proc)) {
      const up = await unixJson(socket, 'GET', '/v1/health').then((r) => r.status === 200, () => false);
      if (up) return { proc, socket, port, logFile };
      if (Date.now() > deadline) throw new Error(`controller ${name} not healthy after 15 s:\n${readFileSync(logFile, 'utf8')}`);
      await sleep(100);
    }
    return { proc, socket, port, logFile };
  }

  await t.test('TCP wants the generated token; a missing or wrong one gets 401 and changes nothing; the unix socket is root-only and token-free', async (t: Test) => {
    const tokenFile = join(dir, 'state/controller/token');
    const c = await start('auth', ['--token-file', tokenFile]);
    t.ok(isAlive(c.proc), 'running');
    t.equal(statSync(c.socket).mode & 0o777, 0o600, 'socket is 0600');
    t.equal(statSync(tokenFile).mode & 0o777, 0o600, 'token file is 0600');
    t.equal(statSync(join(dir, 'state/controller')).mode & 0o777, 0o700, 'its directory is 0700');
    const token = readFileSync(tokenFile, 'utf8').trim();
    t.match(token, /^[0-9a-f]{64}$/);

    const seeded = await unixJson(c.socket, 'POST', '/v1/networks', { name: 'n0', subnet: '10.60.0.0/16' });
    t.equal(seeded.status, 201, 'the socket needs no token');

    const store = new EtcdStore({ endpoints: [etcd.endpoint] });
    t.teardown(() => store.close());
    const snapshot = async () => (await store.list(keys('/auth/').prefix)).items.map((kv) => [kv.key, kv.value, kv.modRevision]);
    const before = await snapshot();
    t.ok(before.length > 0);

    for (const [who, tok] of [['no token', undefined], ['a wrong token', 'f'.repeat(64)]] as const) {
      const post = await tcp(c.port, 'POST', '/v1/networks', tok, { name: 'evil', subnet: '10.61.0.0/16' });
      t.equal(post.status, 401, `POST with ${who}`);
      t.same(post.json, { code: 'VXNET_UNAUTHORIZED', message: 'authentication required' });
      t.equal((await tcp(c.port, 'DELETE', '/v1/networks/n0?force=true', tok)).status, 401, `DELETE with ${who}`);
      t.equal((await tcp(c.port, 'GET', '/v1/networks', tok)).status, 401, `GET with ${who}`);
    }
    const raw = await fetch(`http://127.0.0.1:${c.port}/v1/networks/n0`, { method: 'DELETE', headers: { authorization: token } });
    t.equal(raw.status, 401, 'the token alone, without "Bearer ", is refused');
    const forged = await fetch(`http://127.0.0.1:${c.port}/v1/networks/n0`, { method: 'DELETE', headers: { 'x-forwarded-for': '127.0.0.1', host: 'localhost' } });
    t.equal(forged.status, 401, 'headers a client controls open nothing');
    t.same(await snapshot(), before, 'the store is unchanged');

    const listed = await tcp(c.port, 'GET', '/v1/networks', token);
    t.equal(listed.status, 200, 'the right token');
    t.same(listed.json.networks.map((n: { name: string }) => n.name), ['n0']);
    t.equal((await tcp(c.port, 'POST', '/v1/networks', token, { name: 'n1', subnet: '10.61.0.0/16' })).status, 201);
    t.equal((await tcp(c.port, 'DELETE', '/v1/networks/n1', token)).status, 200);

    await stopProcess(c.proc);
    const again = await start('auth', ['--token-file', tokenFile]);
    t.equal(readFileSync(tokenFile, 'utf8').trim(), token, 'a restart keeps the token');
    t.equal((await tcp(again.port, 'GET', '/v1/networks', token)).status, 200);
    await stopProcess(again.proc);
  });

  await t.test('--insecure: TCP without a token, and no token file is made', async (t: Test) => {
    const tokenFile = join(dir, 'insecure/token');
    const c = await start('insecure', ['--token-file', tokenFile, '--insecure']);
    t.equal((await tcp(c.port, 'POST', '/v1/networks', undefined, { name: 'n1' })).status, 201);
    t.throws(() => statSync(tokenFile), { code: 'ENOENT' });
    t.match(readFileSync(c.logFile, 'utf8'), /TCP listener without a token \(--insecure\)/, 'says so in its log');
    await stopProcess(c.proc);
  });

  await t.test('an empty or unreadable token file stops the start with one line naming it', async (t: Test) => {
    const empty = join(dir, 'empty-token');
    writeFileSync(empty, '\n', { mode: 0o600 });
    for (const [name, file, why] of [['empty', empty, 'is empty'], ['unreadable', dir, 'cannot be read: EISDIR']] as const) {
      const c = await start(name, ['--token-file', file]);
      for (let i = 0; i < 50 && isAlive(c.proc); i++) await sleep(100);
      t.notOk(isAlive(c.proc), `${name}: exited`);
      const out = readFileSync(c.logFile, 'utf8');
      t.ok(out.startsWith(`vxnet-controller: could not start the controller: token file ${file} ${why}`), `${name}: says what and why: ${out}`);
      t.equal(out.trimEnd().split('\n').length, 1, `${name}: one line`);
      t.throws(() => statSync(c.socket), { code: 'ENOENT' }, `${name}: nothing was served`);
    }
    t.equal(readFileSync(empty, 'utf8'), '\n', 'the empty file is left as it was');
  });
}
