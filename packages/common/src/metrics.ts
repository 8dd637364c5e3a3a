/**
 * Prometheus metrics shared by the daemons (`@vxnet/common/metrics`, a subpath so that
 * prom-client never loads in the CLI, which imports only `@vxnet/common`).
 *
 * Conventions (https://prometheus.io/docs/practices/naming/), each enforced here or by
 * the test that runs `promtool check metrics`:
 * - one Registry per daemon; vxnet's series are named `vxnet_<daemon>_…`; the library's
 *   process_* and nodejs_* defaults keep their standard names (dashboards expect them;
 *   Prometheus' `job` label tells the daemons apart);
 * - base units (`_seconds`), counters end in `_total`, points in time end in
 *   `_timestamp_seconds`, `vxnet_build_info{version}` is a constant 1;
 * - label values come from small sets (network names, states, kinds, rcodes, route
 *   templates), never container ids, endpoint ids or addresses.
 *
 * Gauges that mirror state are computed in `collect()` from the daemon's own state at
 * scrape time (Weave's pattern), so they cannot drift from it.
 */
import { createServer, type Server } from 'node:http';
import type { FastifyInstance } from 'fastify';
import { Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Logger } from './log.js';

export { Counter, Gauge, Histogram, Registry } from 'prom-client';

/** Where `GET /metrics` is served on every API and on `--metrics-addr`. */
export const METRICS_PATH = '/metrics';

export type Daemon = 'controller' | 'agent' | 'engine';

export interface DaemonMetrics {
  readonly registry: Registry;
  /** `vxnet_<daemon>_`: the prefix of every vxnet series of this daemon. */
  readonly prefix: string;
  /** `vxnet_<daemon>_http_request_duration_seconds{method,route,status_code}`, one per registry (several apps may share it). */
  readonly http: Histogram<'method' | 'route' | 'status_code'>;
}

/**
 * A daemon's registry: process_* and nodejs_* defaults, `vxnet_build_info{version}` = 1,
 * the HTTP request histogram. The daemon adds its own series with `registers: [registry]`.
 */
export function daemonMetrics(daemon: Daemon, version: string): DaemonMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  // The one default that waits at scrape time: it schedules a setImmediate and reports
  // how long that took, so every scrape queues behind whatever the daemon's event loop
  // holds (1.4 ms p99 alone on this 2-core machine under load, 0.2 ms p50; measured
  // with bench/metrics.ts). nodejs_eventloop_lag_{min,max,mean,p50,p90,p99}_seconds
  // stay: they come from perf_hooks' monitorEventLoopDelay, without waiting.
  registry.removeSingleMetric('nodejs_eventloop_lag_seconds');
  const prefix = `vxnet_${daemon}_`;
  const info = new Gauge({ name: 'vxnet_build_info', help: 'vxnet build, constant 1 (the version is the label)', labelNames: ['version', 'daemon'], registers: [registry] });
  info.set({ version, daemon }, 1);
  const http = new Histogram({
    name: `${prefix}http_request_duration_seconds`,
    help: 'API requests by method, route template and status code, seconds from request to response',
    labelNames: ['method', 'route', 'status_code'],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10],
    registers: [registry],
  });
  return { registry, prefix, http };
}

/**
 * `GET /metrics` on `app`, and the request histogram for every route of it. The route
 * label is the route's template (`/v1/containers/:ref`), never the URL a client sent
 * (that would make a series per container): requests that matched no route are
 * "unmatched". Register before the routes so that the hook sees all of them.
 *
 * Authentication is the app's: on the controller's TCP listener `/metrics` needs the
 * bearer token and client certificate like every route (docs/deploy.md shows the
 * Prometheus scrape config that sends them).
 */
export function serveMetricsRoute(app: FastifyInstance, metrics: DaemonMetrics): void {
  app.addHook('onResponse', async (req, reply) => {
    const route = req.routeOptions.url ?? 'unmatched';
    if (route === METRICS_PATH) return; // a scrape is not API traffic
    metrics.http.observe({ method: req.method, route, status_code: String(reply.statusCode) }, reply.elapsedTime / 1000);
  });
  app.get(METRICS_PATH, { schema: { hide: true } as Record<string, unknown> }, async (_req, reply) => {
    const text = await metrics.registry.metrics();
    return reply.type(metrics.registry.contentType).send(text);
  });
}

/**
 * The `--metrics-addr HOST:PORT` listener: plain HTTP, `GET /metrics` only (404 for
 * anything else, 405 for other methods), no API behind it. Off unless configured,
 * like flannel's healthz port: the operator picks the address, and Weave's advice
 * stands (do not bind 0.0.0.0 on a host reachable from untrusted networks).
 * Resolves once listening; `close()` stops it.
 */
export async function listenMetrics(addr: string, metrics: DaemonMetrics, log: Logger): Promise<Server> {
  const { host, port } = splitHostPort(addr);
  const server = createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0];
    if (path !== METRICS_PATH) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('only /metrics is served here\n');
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' }).end('GET /metrics\n');
      return;
    }
    metrics.registry.metrics().then((text) => {
      res.writeHead(200, { 'content-type': metrics.registry.contentType });
      res.end(req.method === 'HEAD' ? undefined : text);
    }, (err: unknown) => {
      log.error({ err }, 'metrics collection failed');
      res.writeHead(500, { 'content-type': 'text/plain' }).end('metrics collection failed\n');
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host, port }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.on('error', (err) => log.error({ err }, 'metrics listener failed'));
  log.info({ metricsAddr: addr }, 'metrics served on their own listener');
  return server;
}

/**
 * `HOST:PORT` (IPv4 or a name; `[v6]:port` for IPv6) -> parts; throws on anything
 * else. Port 0 (any free port, for tests) is accepted here; the config refuses it.
 */
export function splitHostPort(addr: string): { host: string; port: number } {
  const problem = hostPortProblem(addr.replace(/:0$/, ':1'));
  if (problem !== undefined) throw new Error(`metrics address "${addr}" ${problem}`);
  const i = addr.lastIndexOf(':');
  return { host: addr.slice(0, i).replace(/^\[(.*)\]$/, '$1'), port: Number(addr.slice(i + 1)) };
}

/** Why `addr` is not a usable `HOST:PORT`, or undefined. For config validators. */
export function hostPortProblem(addr: string): string | undefined {
  const i = addr.lastIndexOf(':');
  if (i <= 0) return 'must be HOST:PORT (for example 127.0.0.1:9650)';
  const host = addr.slice(0, i);
  const port = addr.slice(i + 1);
  if (!/^[0-9]{1,5}$/.test(port) || Number(port) < 1 || Number(port) > 65_535) return 'must end in a port from 1 to 65535';
  if (!/^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)$/.test(host)) return 'must start with an IPv4 address, a host name or [IPv6]';
  return undefined;
}
