/**
 * `run -p`, the PORTS of `ps` and `inspect`, and `net expose`/`unexpose`, through the
 * real `vxnet` binary against a fake engine on a unix socket (no root): bad -p values
 * are refused in one line before any engine is asked; good ones reach the engine as
 * PortRequests; what the engine answers is shown as docker shows it.
 */
import t from 'tap';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ContainerView, ExposeResult, PortMapping, RunRequest } from '@vxnet/common/api';
import { runRequest } from '../src/commands/run.js';
import { portsText } from '../src/commands/inspect.js';

const CLI = fileURLToPath(new URL('../../bin/vxnet.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'vxnet-cli-publish-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const socket = join(dir, 'engine.sock');
const env = { ...process.env, VXNET_HOME: join(dir, 'home'), VXNET_HOST: `unix://${socket}` };

function vxnet(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { env }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    });
  });
}

// ---- the fake engine ------------------------------------------------------------

const requests: Array<{ method: string; url: string; body: unknown }> = [];
const published: PortMapping[] = [
  { hostIp: '192.0.2.1', hostPort: 8080, containerPort: 80, protocol: 'tcp' },
  { hostIp: '192.0.2.1', hostPort: 5353, containerPort: 53, protocol: 'udp' },
];
const view = (over: Partial<ContainerView>): ContainerView => ({
  id: 'a'.repeat(64), name: 'web', image: 'busybox', command: ['sh'], status: 'running', running: true, pid: 42, exitCode: null, host: 'h1', hostname: 'aaaa',
  env: [], networkMode: 'overlay', netContainer: null, sandbox: '/run/netns/x', networks: [], restarting: false, restartPolicy: 'no', restartCount: 0, autoRemove: false, workdir: '/', user: '', createdAt: new Date().toISOString(), startedAt: new Date().toISOString(),
  finishedAt: null, ports: [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }, { hostPort: 5353, containerPort: 53, protocol: 'udp' }], publishedPorts: published, ...over,
});
const exposed: ExposeResult = { network: 'n'.repeat(64), networkName: 'net1', ip: '10.128.0.9', prefixLength: 24 };
const answer = (res: ServerResponse, status: number, body: unknown) => {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
};
const server = createServer((req: IncomingMessage, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const text = Buffer.concat(chunks).toString('utf8');
    requests.push({ method: req.method ?? '', url: req.url ?? '', body: text ? JSON.parse(text) : undefined });
    if (req.method === 'POST' && req.url === '/v1/containers') return answer(res, 201, view({}));
    if (req.method === 'GET' && req.url === '/v1/containers') return answer(res, 200, { containers: [view({})] });
    if (req.method === 'GET' && req.url === '/v1/containers/web') return answer(res, 200, view({}));
    if (req.method === 'GET' && req.url === '/v1/containers/stopped') return answer(res, 200, view({ status: 'exited', running: false, exitCode: 0, publishedPorts: [] }));
    if (req.url === '/v1/networks/net1/expose') return answer(res, 200, exposed);
    if (req.url === '/v1/networks/net2/expose') return answer(res, 404, { code: 'VXNET_NOT_EXPOSED', message: 'network "net2" is not exposed on this host' });
    return answer(res, 404, { code: 'VXNET_TEST', message: `fake engine: no route ${req.method} ${req.url}` });
  });
});
await new Promise<void>((resolve) => server.listen(socket, resolve));
t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));

// ---- tests ------------------------------------------------------------------------

t.test('run -p and --publish become PortRequests', async (t) => {
  t.same(runRequest('busybox', [], { net: ['net1'], publish: ['8080:80', '192.0.2.1:5353:53/udp'] }).ports, [
    { hostPort: 8080, containerPort: 80, protocol: 'tcp' },
    { hostIp: '192.0.2.1', hostPort: 5353, containerPort: 53, protocol: 'udp' },
  ]);
  t.equal(runRequest('busybox', [], { net: ['net1'] }).ports, undefined, 'none asked, none sent');
  const r = await vxnet(['run', '-d', '--net', 'net1', '-p', '8080:80', '--publish', '192.0.2.1:5353:53/udp', 'busybox']);
  t.equal(r.code, 0, r.stderr);
  t.equal(r.stdout.trim(), 'a'.repeat(64));
  t.same((requests.at(-1)?.body as RunRequest).ports, [
    { hostPort: 8080, containerPort: 80, protocol: 'tcp' },
    { hostIp: '192.0.2.1', hostPort: 5353, containerPort: 53, protocol: 'udp' },
  ], 'the engine got both');
});

t.test('bad -p values: one line, exit 1, no engine asked', async (t) => {
  const cases: Array<[string, RegExp]> = [
    ['0:80', /^vxnet: invalid -p "0:80": host port 0 is out of range 1-65535 \(expected \[IP:\]HOSTPORT:CONTAINERPORT\[\/tcp\|udp\]\)\n$/],
    ['70000:80', /host port 70000 is out of range 1-65535/],
    ['8080:70000', /container port 70000 is out of range 1-65535/],
    ['abc:80', /host port "abc" is not a number/],
    ['8080:80/sctp', /unknown protocol "sctp": expected tcp or udp/],
    ['300.1.1.1:8080:80', /host IP "300\.1\.1\.1" is not an IPv4 address/],
    ['80', /give both the host port and the container port/],
    ['8080:', /the container port is missing/],
  ];
  for (const [spec, re] of cases) {
    const before = requests.length;
    const r = await vxnet(['run', '-d', '--net', 'net1', '-p', spec, 'busybox']);
    t.equal(r.code, 1, `-p ${spec}: exit 1`);
    t.match(r.stderr, re, r.stderr.trim());
    t.equal(r.stderr.trimEnd().split('\n').length, 1, 'one line');
    t.equal(r.stdout, '');
    t.equal(requests.length, before, 'no request reached the engine');
  }
  const long = await vxnet(['run', '-d', '--net', 'net1', '--publish', '0:80', 'busybox']);
  t.match(long.stderr, /^vxnet: invalid -p "0:80"/, '--publish: the same check');
});

t.test('ps shows PORTS as docker does; inspect shows them, and what start publishes again', async (t) => {
  const ps = await vxnet(['ps']);
  t.equal(ps.code, 0, ps.stderr);
  const [header, row] = ps.stdout.split('\n');
  t.match(header, /STATUS\s+PORTS\s+NETWORKS\s+NAMES/);
  t.match(row, /192\.0\.2\.1:8080->80\/tcp, 192\.0\.2\.1:5353->53\/udp/);
  const json = JSON.parse((await vxnet(['ps', '--json'])).stdout) as ContainerView[];
  t.same(json[0]?.publishedPorts, published, 'ps --json: the API object');

  const inspect = await vxnet(['inspect', 'web']);
  t.match(inspect.stdout, /^Ports:\s+192\.0\.2\.1:8080->80\/tcp, 192\.0\.2\.1:5353->53\/udp$/m);
  t.same((JSON.parse((await vxnet(['inspect', '--json', 'web'])).stdout) as ContainerView).ports.length, 2);
  const stopped = await vxnet(['inspect', 'stopped']);
  t.match(stopped.stdout, /^Ports:\s+8080->80\/tcp, 5353->53\/udp \(not published: the container is not running\)$/m);
  t.equal(portsText({ ports: [], publishedPorts: [], status: 'running' }), '-');
});

t.test('net expose / unexpose: through the engine, the address printed, errors as the agent said', async (t) => {
  const e = await vxnet(['net', 'expose', 'net1']);
  t.equal(e.code, 0, e.stderr);
  t.equal(e.stdout, '10.128.0.9/24\n');
  t.same(requests.at(-1), { method: 'POST', url: '/v1/networks/net1/expose', body: undefined });
  t.same(JSON.parse((await vxnet(['net', 'expose', '--json', 'net1'])).stdout), exposed);
  const u = await vxnet(['net', 'unexpose', 'net1']);
  t.equal(u.stdout, '10.128.0.9/24\n');
  t.same(requests.at(-1)?.method, 'DELETE');
  const not = await vxnet(['net', 'unexpose', 'net2']);
  t.equal(not.code, 1);
  t.equal(not.stderr, 'vxnet: network "net2" is not exposed on this host\n');
});
