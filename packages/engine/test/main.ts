/**
 * The vxnet-engine binary on real runc (root): a container record that cannot be read
 * stops the engine at start with one line naming the file and how to recover, exit 1,
 * and nothing is removed: runc still runs both containers, both sandboxes exist, the
 * agent (a fake on a unix socket, recording every call) is asked to delete nothing.
 */
import t from 'tap';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { unixJson } from '@vxnet/common/testing';
import { deleteNetns } from '@vxnet/netns';

const ENGINE_BIN = fileURLToPath(new URL('../../bin/vxnet-engine.js', import.meta.url));
const hasRunc = (() => {
  try {
    execFileSync('runc', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

if (process.getuid?.() !== 0) {
  t.plan(0, 'skip: needs root (namespaces, runc)');
} else if (!hasRunc || !existsSync('/bin/busybox')) {
  t.plan(0, 'skip: needs runc and /bin/busybox (Debian runc, busybox-static)');
} else {
  const dir = mkdtempSync('/tmp/vxe-main-');
  const stateDir = join(dir, 'state');
  const agentSocket = join(dir, 'agent.sock');
  const socket = join(dir, 'engine.sock');
  const config = join(dir, 'engine.json');
  writeFileSync(config, JSON.stringify({
    host: 'main-test', stateDir, imagesDir: join(dir, 'images'), socket, agentSocket, logFile: join(dir, 'engine.log'), busybox: '/bin/busybox',
  }));

  // the fake agent: endpoints in a map, no kernel work (the engine only records them)
  const calls: string[] = [];
  const endpoints = new Map<string, Record<string, unknown>>();
  const instance = randomBytes(4).toString('hex');
  const agent = createServer((req: IncomingMessage, res: ServerResponse) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      calls.push(`${req.method} ${req.url}`);
      const answer = (status: number, value: unknown) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(value));
      if (req.method === 'GET' && req.url === '/v1/status') return answer(200, { host: 'main-test', instance, networks: [], alivePeers: [] });
      if (req.method === 'GET' && req.url === '/v1/endpoints') return answer(200, { endpoints: [...endpoints.values()] });
      if (req.method === 'POST' && req.url === '/v1/endpoints') {
        const r = JSON.parse(body) as { network: string; name: string; container: string; ifname: string; sandbox: string; owner?: string };
        const ep = {
          id: randomBytes(8).toString('hex'), networkId: randomBytes(32).toString('hex'), networkName: r.network, name: r.name, aliases: [],
          ip: '10.77.0.2', mac: '02:42:0a:4d:00:02', host: 'main-test', container: r.container, createdAt: new Date().toISOString(), sandbox: r.sandbox,
          hostIfname: 'vx-fake', ifname: r.ifname, prefixLength: 24, gateway: '10.77.0.1', mtu: 1450, ...(r.owner ? { owner: r.owner } : {}),
        };
        endpoints.set(ep.id, ep);
        return answer(201, ep);
      }
      return answer(404, { code: 'VXNET_NOT_FOUND', message: 'no such route in the fake agent' });
    });
  });
  await new Promise<void>((resolve) => agent.listen(agentSocket, resolve));

  const ids: string[] = [];
  const sandboxes: string[] = [];
  const engines: ChildProcess[] = [];
  t.teardown(async () => {
    for (const e of engines) if (e.exitCode === null && e.signalCode === null) e.kill('SIGKILL');
    for (const id of ids) {
      try {
        execFileSync('runc', ['--root', join(stateDir, 'runc'), 'delete', '--force', id], { stdio: 'ignore' });
      } catch {
        // not there
      }
    }
    for (const ns of sandboxes) deleteNetns(ns);
    await new Promise((resolve) => agent.close(resolve));
    rmSync(dir, { recursive: true, force: true });
  });

  const startEngine = () => {
    const child = spawn(process.execPath, [ENGINE_BIN, '--config', config], { stdio: ['ignore', 'pipe', 'pipe'] });
    engines.push(child);
    let stderr = '';
    child.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
    const exited = new Promise<{ code: number | null; stderr: string }>((resolve) => child.on('exit', (code) => resolve({ code, stderr })));
    return { child, exited };
  };
  const healthy = async (ms: number) => {
    const deadline = Date.now() + ms;
    while (Date.now() < deadline) {
      const ok = await unixJson(socket, 'GET', '/v1/health').then((r) => r.status === 200, () => false);
      if (ok) return true;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    return false;
  };

  t.test('an unreadable container record stops the engine; nothing is removed', async (t) => {
    const first = startEngine();
    t.ok(await healthy(20_000), 'engine up');
    for (const [name, networks] of [['c1', ['net1']], ['c2', ['none']]] as const) {
      const r = await unixJson(socket, 'POST', '/v1/containers', { name, image: 'busybox', detach: true, networks });
      t.equal(r.status, 201, JSON.stringify(r.body));
      ids.push(r.body.id);
      sandboxes.push(readFileSync(join(stateDir, 'containers', r.body.id, 'container.json'), 'utf8').match(/"netns": "([^"]+)"/)?.[1] as string);
    }
    const epOfC1 = [...endpoints.values()].find((e) => e.container === ids[0]);
    t.equal(epOfC1?.owner, 'engine', 'the endpoint was asked for with owner "engine"');
    first.child.kill('SIGTERM');
    t.equal((await first.exited).code, 0, 'engine stopped; the containers keep running');

    const record = join(stateDir, 'containers', ids[0] as string, 'container.json');
    writeFileSync(record, readFileSync(record, 'utf8').slice(0, 50));
    calls.length = 0;
    const second = startEngine();
    const timer = setTimeout(() => second.child.kill('SIGKILL'), 30_000);
    const { code, stderr } = await second.exited;
    clearTimeout(timer);
    t.equal(code, 1, 'exit 1');
    const lines = stderr.trim().split('\n');
    t.equal(lines.length, 1, `one line: ${stderr}`);
    t.match(lines[0], `vxnet-engine: could not load container record ${record}`);
    t.match(lines[0], /nothing was removed.*restore or repair that file/);

    const listed = execFileSync('runc', ['--root', join(stateDir, 'runc'), 'list', '-q'], { encoding: 'utf8' }).split('\n').filter(Boolean);
    t.same(ids.filter((id) => !listed.includes(id)), [], 'runc still lists both containers');
    const running = JSON.parse(execFileSync('runc', ['--root', join(stateDir, 'runc'), 'list', '-f', 'json'], { encoding: 'utf8' })) as Array<{ id: string; status: string }>;
    t.same(running.filter((c) => ids.includes(c.id)).map((c) => c.status), ['running', 'running']);
    for (const ns of sandboxes) t.ok(existsSync(`/run/netns/${ns}`), `sandbox ${ns} exists`);
    for (const id of ids) t.ok(existsSync(join(stateDir, 'containers', id)), 'its directory exists');
    t.same(calls.filter((c) => !c.startsWith('GET')), [], 'the agent was asked to delete nothing');
    t.ok(endpoints.has(epOfC1?.id as string));
  });
}
