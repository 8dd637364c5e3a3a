/**
 * The shared metrics pieces: the registry's fixed series, the --metrics-addr
 * listener (only GET /metrics, on loopback here), and HOST:PORT validation.
 */
import t from 'tap';
import { request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { silentLogger } from '../src/log.js';
import { daemonMetrics, hostPortProblem, listenMetrics, splitHostPort } from '../src/metrics.js';

function get(port: number, path: string, method = 'GET'): Promise<{ status: number; type: string | undefined; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: res.headers['content-type'], body }));
    });
    req.on('error', reject);
    req.end();
  });
}

t.test('the registry: build info, process defaults unprefixed, the request histogram', async (t) => {
  const m = daemonMetrics('engine', '1.2.3');
  t.equal(m.prefix, 'vxnet_engine_');
  const text = await m.registry.metrics();
  t.match(text, /^vxnet_build_info\{version="1\.2\.3",daemon="engine"\} 1$/m);
  t.match(text, /^# TYPE vxnet_engine_http_request_duration_seconds histogram$/m);
  t.match(text, /^process_cpu_seconds_total /m);
});

t.test('listenMetrics serves GET /metrics and nothing else', async (t) => {
  const m = daemonMetrics('agent', '0.0.1');
  const server = await listenMetrics('127.0.0.1:0', m, silentLogger());
  t.teardown(() => void server.close());
  const { port } = server.address() as AddressInfo;
  const ok = await get(port, '/metrics');
  t.equal(ok.status, 200);
  t.match(ok.type, /^text\/plain; version=0\.0\.4/);
  t.match(ok.body, /vxnet_build_info/);
  t.equal((await get(port, '/metrics?x=1')).status, 200);
  t.equal((await get(port, '/v1/status')).status, 404);
  t.equal((await get(port, '/metrics', 'POST')).status, 405);
});

t.test('HOST:PORT', async (t) => {
  t.equal(hostPortProblem('127.0.0.1:9650'), undefined);
  t.equal(hostPortProblem('node1.example:9650'), undefined);
  t.equal(hostPortProblem('[::1]:9650'), undefined);
  t.match(hostPortProblem('9650'), /HOST:PORT/);
  t.match(hostPortProblem(':9650'), /HOST:PORT/);
  t.match(hostPortProblem('127.0.0.1:0'), /port from 1/);
  t.match(hostPortProblem('127.0.0.1:70000'), /port from 1/);
  t.match(hostPortProblem('a b:1'), /IPv4 address, a host name/);
  t.same(splitHostPort('[::1]:9650'), { host: '::1', port: 9650 });
  t.same(splitHostPort('127.0.0.1:0'), { host: '127.0.0.1', port: 0 });
  t.throws(() => splitHostPort('nope'));
});
