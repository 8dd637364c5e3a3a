/**
 * The executable's side of the call to the agent (plugin.ts), against fake agents on
 * unix sockets: what is sent, each kind of answer, and every way the agent can fail to
 * answer, with the CNI code and message a runtime gets.
 */
import t from 'tap';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createNetServer, type Server, type Socket } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseResponse, runPlugin } from '../src/plugin.js';

const dir = mkdtempSync(join(tmpdir(), 'vxnet-cni-plugin-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;

async function listen(server: Server): Promise<string> {
  const socket = join(dir, `agent-${++n}.sock`);
  await new Promise<void>((resolve) => server.listen(socket, resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return socket;
}
const agent = (handler: (req: IncomingMessage, res: ServerResponse, body: string) => void) =>
  listen(createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8').on('data', (c: string) => (body += c)).on('end', () => handler(req, res, body));
  }));
/** A server that is not an agent: reads and drops what comes (so it sees the client close), answers with `onConnection`. */
const raw = (onConnection: (c: Socket) => void) => listen(createNetServer((c) => onConnection(c.resume())));

const conf = (socket: string) => JSON.stringify({ cniVersion: '1.0.0', name: 'net1', type: 'vxnet', network: 'net1', agentSocket: socket });
const del = { CNI_COMMAND: 'DEL', CNI_CONTAINERID: 'c1', CNI_IFNAME: 'eth0', CNI_PATH: '/opt/cni/bin' };
const json = (res: ServerResponse, status: number, body: unknown) => {
  res.statusCode = status;
  res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify(body));
};

t.test('sends POST /v1/cni with the CNI_* variables and stdin as they came; prints the result on one line', async (t) => {
  let seen: { method?: string; url?: string; type?: string; body?: unknown } = {};
  const big = 'é'.repeat(200_000); // several reads, a character split between them
  const socket = await agent((req, res, body) => {
    seen = { method: req.method, url: req.url, type: req.headers['content-type'], body: JSON.parse(body) };
    json(res, 200, { result: { cniVersion: '1.0.0', ips: [{ address: '10.1.0.2/24' }], big } });
  });
  const stdin = conf(socket);
  const out = await runPlugin({ ...del, CNI_COMMAND: 'ADD', CNI_NETNS: '/run/netns/x', HOME: '/root', PATH: '/usr/bin' }, stdin);
  t.same(seen, {
    method: 'POST', url: '/v1/cni', type: 'application/json',
    body: { env: { ...del, CNI_COMMAND: 'ADD', CNI_NETNS: '/run/netns/x' }, stdin },
  }, 'only CNI_* variables go to the agent');
  t.equal(out.exitCode, 0);
  t.same(JSON.parse(out.stdout), { cniVersion: '1.0.0', ips: [{ address: '10.1.0.2/24' }], big });
  t.equal(out.stdout.indexOf('\n'), out.stdout.length - 1, 'one line');
});

t.test('an answer without a result prints nothing; a chunked answer is read whole', async (t) => {
  t.same(await runPlugin(del, conf(await agent((_q, res) => json(res, 200, {})))), { exitCode: 0, stdout: '' });
  const chunked = await agent((_q, res) => {
    res.write('{"result":{"msg":"ü');
    setTimeout(() => res.end('ü"}}'), 10);
  });
  t.same(await runPlugin(del, conf(chunked)), { exitCode: 0, stdout: '{"msg":"üü"}\n' });
});

t.test("the agent's CNI error is printed as it sent it, exit 1", async (t) => {
  const error = { cniVersion: '1.0.0', code: 101, msg: 'the name is taken' };
  const out = await runPlugin(del, conf(await agent((_q, res) => json(res, 400, { error }))));
  t.same(out, { exitCode: 1, stdout: `${JSON.stringify(error)}\n` });
});

t.test('an agent that cannot answer: code 11 (50 for STATUS), saying why', async (t) => {
  const cases: Array<[string, string, RegExp]> = [
    ['no socket', join(dir, 'none.sock'), /the socket does not exist/],
    ['not CNI', await agent((_q, res) => json(res, 404, { message: 'Route POST:/v1/cni not found' })), /HTTP 404: it does not serve CNI/],
    ['not JSON', await agent((_q, res) => res.end('<html>')), /HTTP 200 with a body that is not JSON/],
    ['not HTTP', await raw((c) => c.end('hello\n')), /closed without an HTTP answer/],
    ['closes at once', await raw((c) => c.destroy()), /not answering on .* \(E[A-Z]+\)|closed without an HTTP answer/],
  ];
  for (const [what, socket, why] of cases) {
    for (const command of ['DEL', 'STATUS']) {
      const out = await runPlugin({ ...del, CNI_COMMAND: command }, conf(socket));
      const body = JSON.parse(out.stdout) as { code: number; msg: string };
      t.equal(out.exitCode, 1, `${what}, ${command}: exit 1`);
      t.equal(body.code, command === 'STATUS' ? 50 : 11, `${what}, ${command}: code ${body.code}`);
      t.match(body.msg, new RegExp(`^the vxnet agent on this host is not answering on ${socket}`), `${what}: names the socket`);
      t.match(body.msg, why, `${what}: ${body.msg}`);
    }
  }
});

t.test('an agent that accepts and never answers is given up on after the command timeout', async (t) => {
  const held: Socket[] = [];
  const socket = await raw((c) => held.push(c));
  t.teardown(() => held.forEach((c) => c.destroy()));
  const t0 = Date.now();
  const out = await runPlugin({ CNI_COMMAND: 'STATUS', CNI_PATH: '/opt/cni/bin' }, conf(socket));
  const ms = Date.now() - t0;
  t.match(JSON.parse(out.stdout), { code: 50, msg: /no answer within 2 s/ });
  t.ok(ms >= 1900 && ms < 4000, `after ${ms} ms (STATUS: 2 s)`);
});

t.test('parseResponse: framed by content-length, chunked, or to the end; undefined when not HTTP', async (t) => {
  const r = (s: string) => parseResponse(Buffer.from(s, 'latin1'));
  t.same(r('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}xx'), { status: 200, body: '{}' });
  t.same(r('HTTP/1.1 503 Service Unavailable\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n'), { status: 503, body: 'abcde' });
  t.same(r('HTTP/1.0 200 OK\r\n\r\n{"a":1}'), { status: 200, body: '{"a":1}' });
  t.equal(r('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n'), undefined, 'headers not ended');
  t.equal(r('SSH-2.0-OpenSSH\r\n\r\n'), undefined, 'not a status line');
  t.equal(r('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n'), undefined, 'a bad chunk size');
});
