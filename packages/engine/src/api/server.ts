/**
 * The engine API, on a unix socket (like dockerd's):
 *   GET    /v1/health
 *   POST   /v1/containers                       RunRequest -> 201 container
 *   GET    /v1/containers?all=1
 *   GET    /v1/containers/:ref                  ref = name, id or unique id prefix
 *   POST   /v1/containers/:ref/start
 *   POST   /v1/containers/:ref/stop             {timeout?: seconds}
 *   POST   /v1/containers/:ref/restart          {timeout?: seconds}: stop, then start
 *   GET    /v1/containers/:ref/archive?path=P   -> application/x-tar of P in the container (cp C:SRC DST)
 *   PUT    /v1/containers/:ref/archive?path=P   application/x-tar body, unpacked at P (cp SRC C:DST) -> {path}
 *   POST   /v1/containers/:ref/wait             -> {exitCode} once not running
 *   POST   /v1/containers/:ref/exec             ExecRequest, HTTP upgrade -> exec frame stream (exec-upgrade.ts)
 *   POST   /v1/containers/:ref/attach           AttachRequest, HTTP upgrade -> the same stream, to a container's terminal
 *   GET    /v1/containers/:ref/logs?offset=N[&timestamps=1][&since=UNIX_MS] -> {data (base64), offset, running}
 *   GET    /v1/containers/:ref/stats            -> ContainerStats: one sample of cumulative counters (zeros when not running)
 *   GET    /v1/containers/:ref/top              -> ContainerTop: its processes (409 when not running)
 *   DELETE /v1/containers/:ref?force=1
 *   POST   /v1/containers/:ref/networks         {network, aliases?, ip?}
 *   DELETE /v1/containers/:ref/networks/:network
 *   POST   /v1/networks/:network/expose         -> the agent's ExposeResult (this host's address on the network)
 *   DELETE /v1/networks/:network/expose         -> the agent's ExposeResult (its 404 when not exposed)
 *   POST   /v1/images/load  (and the image routes in image-routes.ts)
 *   GET    /metrics                             Prometheus text (metrics/engine-metrics.ts); also on --metrics-addr
 * Errors: {code, message} with the error's HTTP status; the agent's pass through as they are.
 */
import type { Readable } from 'node:stream';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { InvalidArgument, apiErrorAnswer, type Logger } from '@vxnet/common';
import { serveMetricsRoute, type DaemonMetrics } from '@vxnet/common/metrics';
import { createEndpointBodySchema, type RunRequest } from '@vxnet/common/api';
import { restartPolicyBodySchema } from './schemas.js';
import type { Engine } from '../engine.js';
import { serveUpgrades } from './exec-upgrade.js';
import { TAR_TYPE, imageRoutes } from './image-routes.js';

const NAME = '^[A-Za-z0-9][A-Za-z0-9_.-]*$';
const strings = { type: 'array', items: { type: 'string' } } as const;

export function buildApi(engine: Engine, host: string, log: Logger, metrics?: DaemonMetrics): FastifyInstance {
  const app = Fastify({ loggerInstance: log.child({ component: 'api' }) as FastifyBaseLogger, ajv: { customOptions: { removeAdditional: false } } });
  app.setErrorHandler((err, req, reply) => {
    const answer = apiErrorAnswer(err);
    if (answer.internal) req.log.error({ err }, 'request failed');
    return reply.code(answer.statusCode).send(answer.body);
  });
  if (metrics) serveMetricsRoute(app, metrics);

  serveUpgrades(app.server, engine, log.child({ component: 'api' }));
  app.get('/v1/health', async () => ({ ok: true, host }));
  // tar bodies (image load, cp into a container) reach their route as the raw stream: unpacked as they come, never held
  app.addContentTypeParser(TAR_TYPE, (_req, payload, done) => done(null, payload));
  imageRoutes(app, engine);

  app.post<{ Body: RunRequest }>('/v1/containers', {
    schema: {
      body: {
        type: 'object', additionalProperties: false,
        properties: {
          name: { type: 'string' }, image: { type: 'string', minLength: 1 }, rootfs: { type: 'string', pattern: '^/' }, cmd: strings,
          detach: { type: 'boolean' }, tty: { type: 'boolean' }, env: strings, entrypoint: strings, workdir: { type: 'string', minLength: 1 },
          user: { type: 'string', minLength: 1 }, restart: restartPolicyBodySchema, autoRemove: { type: 'boolean' }, hostname: { type: 'string' }, networks: strings, aliases: strings, ip: { type: 'string' },
          // the agent's own schema of a port request: one definition
          ports: createEndpointBodySchema.properties.ports,
        },
      },
    },
  }, async (req, reply) => reply.code(201).send(await engine.run(req.body)));

  app.get<{ Querystring: { all?: string } }>('/v1/containers', async (req) => ({ containers: engine.list(req.query.all === '1' || req.query.all === 'true') }));
  app.get<{ Params: { ref: string } }>('/v1/containers/:ref', async (req) => engine.inspect(req.params.ref));
  app.post<{ Params: { ref: string } }>('/v1/containers/:ref/start', async (req) => engine.start(req.params.ref));
  app.post<{ Params: { ref: string }; Body: { timeout?: number } | undefined }>('/v1/containers/:ref/stop', {
    schema: { body: { type: ['object', 'null'], additionalProperties: false, properties: { timeout: { type: 'integer', minimum: 0 } } } },
  }, async (req) => engine.stop(req.params.ref, req.body?.timeout ?? 10));
  app.post<{ Params: { ref: string }; Body: { timeout?: number } | undefined }>('/v1/containers/:ref/restart', {
    schema: { body: { type: ['object', 'null'], additionalProperties: false, properties: { timeout: { type: 'integer', minimum: 0 } } } },
  }, async (req) => engine.restart(req.params.ref, req.body?.timeout ?? 10));
  app.post<{ Params: { ref: string } }>('/v1/containers/:ref/wait', async (req) => ({ exitCode: await engine.wait(req.params.ref) }));
  app.get<{ Params: { ref: string }; Querystring: { offset?: string; timestamps?: string; since?: string } }>('/v1/containers/:ref/logs', async (req) => {
    const since = req.query.since === undefined ? undefined : Number(req.query.since);
    if (since !== undefined && !Number.isSafeInteger(since)) throw new InvalidArgument(`could not read the logs: since=${req.query.since} is not a time in Unix ms`);
    const timestamps = req.query.timestamps === '1' || req.query.timestamps === 'true';
    return engine.logs(req.params.ref, Number(req.query.offset ?? 0) || 0, { timestamps, ...(since !== undefined ? { sinceMs: since } : {}) });
  });
  // cp: tar streams, never buffered (no body limit applies to them)
  app.get<{ Params: { ref: string }; Querystring: { path?: string } }>('/v1/containers/:ref/archive', async (req, reply) => {
    const packed = await engine.archive(req.params.ref, archivePath(req.query.path, 'from'));
    return reply.type(TAR_TYPE).header('x-vxnet-archive', JSON.stringify({ name: packed.name, isDir: packed.isDir })).send(packed.stream);
  });
  app.put<{ Params: { ref: string }; Querystring: { path?: string }; Body: Readable }>('/v1/containers/:ref/archive', async (req) => {
    if (req.headers['content-type'] !== TAR_TYPE) throw new InvalidArgument(`could not copy to the container: the body must be ${TAR_TYPE}`);
    return { path: await engine.extract(req.params.ref, archivePath(req.query.path, 'to'), req.body) };
  });
  app.get<{ Params: { ref: string } }>('/v1/containers/:ref/stats', async (req) => engine.stats(req.params.ref));
  app.get<{ Params: { ref: string } }>('/v1/containers/:ref/top', async (req) => engine.top(req.params.ref));
  app.delete<{ Params: { ref: string }; Querystring: { force?: string } }>('/v1/containers/:ref', async (req) =>
    engine.remove(req.params.ref, req.query.force === '1' || req.query.force === 'true'));
  app.post<{ Params: { ref: string }; Body: { network: string; aliases?: string[]; ip?: string } }>('/v1/containers/:ref/networks', {
    schema: {
      body: {
        type: 'object', additionalProperties: false, required: ['network'],
        properties: { network: { type: 'string', minLength: 1 }, aliases: { type: 'array', items: { type: 'string', pattern: NAME } }, ip: { type: 'string' } },
      },
    },
  }, async (req) => engine.connect(req.params.ref, req.body.network, {
    ...(req.body.aliases ? { aliases: req.body.aliases } : {}), ...(req.body.ip !== undefined ? { ip: req.body.ip } : {}),
  }));
  app.delete<{ Params: { ref: string; network: string } }>('/v1/containers/:ref/networks/:network', async (req) =>
    engine.disconnect(req.params.ref, req.params.network));
  app.post<{ Params: { network: string } }>('/v1/networks/:network/expose', async (req) => engine.expose(req.params.network));
  app.delete<{ Params: { network: string } }>('/v1/networks/:network/expose', async (req) => engine.unexpose(req.params.network));
  return app;
}

function archivePath(path: string | undefined, direction: 'from' | 'to'): string {
  if (path === undefined || path === '') throw new InvalidArgument(`could not copy ${direction} the container: give the path in it (?path=)`);
  return path;
}
