/**
 * buildUi(): the topology page's fastify instance, without listening (bin.ts listens
 * it on `uiListen`; tests use inject()). Read-only: it has no route that writes, so
 * whoever signs in here can look and change nothing.
 *
 *   GET  /ui/                   the page (packages/controller/ui/), cytoscape under /ui/vendor/,
 *                               the shared reducer (common/api/topology.js) under /ui/lib/
 *   POST /api/login             {token} -> session cookie (ui/session.ts); 401 on a wrong token
 *   POST /api/logout            clears the cookie
 *   GET  /api/topology          the topology at the current store revision
 *   GET  /api/topology/events   server-sent events: `snapshot` (a whole Topology) or
 *                               `change` (a TopoDelta), `id` = store revision; a
 *                               reconnect with Last-Event-ID gets the deltas after it
 *                               (or a snapshot when this controller has no history that old)
 *
 * Why a listener of its own and not the API's: the API's TCP listener asks for a client
 * certificate of the site's CA and a bearer token on every request, which a browser
 * cannot send without an operator importing a certificate into it; and the page must
 * not make the write API reachable to a browser session. The page's listener is HTTPS
 * with the controller's server certificate, no client certificate, and the sign-in
 * above; bind it to loopback or a management address (docs/ui.md).
 */
import { timingSafeEqual } from 'node:crypto';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ServerResponse } from 'node:http';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyRequest } from 'fastify';
import fastifyStatic from '@fastify/static';
import { apiErrorAnswer, type Keys, type Logger, type Store } from '@vxnet/common';
import type { TopoDelta, Topology } from '@vxnet/common/api';
import { Unauthorized } from './errors.js';
import { TopologyFeed } from './topology/topology-feed.js';
import { clearedSessionCookie, issueSession, sessionCookie, sessionFromCookieHeader, validSession } from './ui/session.js';

export interface UiAppOptions {
  store: Store;
  keys: Keys;
  logger: Logger;
  /** The site's token: the sign-in form takes it. Undefined (--insecure): no sign-in. */
  token?: string;
  /** HTTPS with the controller's server certificate; undefined only with --plaintext. */
  tls?: { cert: string; key: string };
  /** Keep-alive comment interval of event streams, ms (proxies drop idle connections). */
  keepAliveMs?: number;
}

const here = dirname(fileURLToPath(import.meta.url));
/** packages/controller/ui, from dist/src. */
const UI_DIR = join(here, '..', '..', 'ui');
/** A file of an installed package, as ESM resolution finds it (cytoscape exports its ESM build for import only). */
const resolveFile = (specifier: string) => fileURLToPath(import.meta.resolve(specifier));

const SECURITY_HEADERS = {
  // cytoscape sets element styles from script (allowed), and the page loads only its own files
  'content-security-policy': "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
};

export async function buildUi(opts: UiAppOptions): Promise<FastifyInstance> {
  const options = { loggerInstance: opts.logger.child({ component: 'ui' }) as FastifyBaseLogger, ajv: { customOptions: { removeAdditional: false } } };
  const app = opts.tls
    ? (Fastify({ ...options, https: { cert: opts.tls.cert, key: opts.tls.key, minVersion: 'TLSv1.2' } }) as unknown as FastifyInstance)
    : Fastify(options);
  const secure = opts.tls !== undefined;
  const feed = new TopologyFeed(opts.store, opts.keys, opts.logger.child({ component: 'topology' }));
  const streams = new Set<ServerResponse>();

  app.addHook('onSend', async (_req, reply) => {
    for (const [k, v] of Object.entries(SECURITY_HEADERS)) reply.header(k, v);
  });
  app.setErrorHandler((err, req, reply) => {
    const answer = apiErrorAnswer(err);
    if (answer.internal) req.log.error({ err }, 'request failed');
    return reply.code(answer.statusCode).send(answer.body);
  });
  app.setNotFoundHandler((req, reply) => reply.code(404).send({ code: 'VXNET_NO_ROUTE', message: `no route ${req.method} ${req.url}` }));

  const token = opts.token;
  /** A signed-in page (cookie) or a script with the bearer token; everyone without a token configured. */
  const authorize = async (req: FastifyRequest) => {
    if (token === undefined) return;
    if (validSession(token, sessionFromCookieHeader(req.headers.cookie))) return;
    const expected = Buffer.from(`Bearer ${token}`);
    const got = Buffer.from(req.headers.authorization ?? '');
    if (got.length === expected.length && timingSafeEqual(got, expected)) return;
    throw new Unauthorized();
  };

  app.get('/', async (_req, reply) => reply.redirect('/ui/'));
  await app.register(fastifyStatic, { root: UI_DIR, prefix: '/ui/', index: ['index.html'] });
  await app.register(fastifyStatic, {
    root: dirname(resolveFile('cytoscape/dist/cytoscape.esm.min.mjs')), prefix: '/ui/vendor/', decorateReply: false,
    allowedPath: (path) => path === '/cytoscape.esm.min.mjs',
  });
  await app.register(fastifyStatic, {
    root: dirname(resolveFile('@vxnet/common/api')), prefix: '/ui/lib/', decorateReply: false,
    allowedPath: (path) => path === '/topology.js',
  });

  app.post<{ Body: { token: string } }>('/api/login', {
    schema: { body: { type: 'object', properties: { token: { type: 'string', minLength: 1, maxLength: 4096 } }, required: ['token'], additionalProperties: false } },
  }, async (req, reply) => {
    if (token !== undefined) {
      const got = Buffer.from(req.body.token.trim());
      const want = Buffer.from(token);
      if (got.length !== want.length || !timingSafeEqual(got, want)) {
        req.log.warn({ client: req.ip }, 'topology page sign-in refused');
        throw new Unauthorized();
      }
      reply.header('set-cookie', sessionCookie(issueSession(token), secure));
    }
    return reply.code(204).send();
  });
  app.post('/api/logout', async (_req, reply) => reply.header('set-cookie', clearedSessionCookie(secure)).code(204).send());

  app.get('/api/topology', { onRequest: authorize }, async (): Promise<Topology> => feed.snapshot());

  app.get<{ Querystring: { since?: string } }>('/api/topology/events', {
    onRequest: authorize,
    schema: { querystring: { type: 'object', properties: { since: { type: 'string', pattern: '^[0-9]{1,15}$' } }, additionalProperties: false } },
  }, async (req, reply) => {
    await feed.start();
    // EventSource sends Last-Event-ID when it reconnects by itself; the page passes
    // ?since= when it had to make a new EventSource (which starts without one)
    const last = Number(req.headers['last-event-id'] ?? req.query.since);
    const res = reply.raw;
    reply.hijack();
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      'x-accel-buffering': 'no',
      ...SECURITY_HEADERS,
    });
    // reconnect soon after a controller restart (the browser's default is about 3 s)
    res.write('retry: 1000\n\n');
    const send = (event: string, id: number, data: unknown) => res.write(`id: ${id}\nevent: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
    // subscribe before reading the state so no delta falls between the two; deltas
    // the catch-up already covers are skipped by revision
    let at = -1;
    const queued: TopoDelta[] = [];
    let ready = false;
    const unsubscribe = feed.subscribe((d) => {
      if (!ready) queued.push(d);
      else if (d.revision > at) {
        send('change', d.revision, d);
        at = d.revision;
      }
    });
    streams.add(res);
    const keepAlive = setInterval(() => res.write(': keep-alive\n\n'), opts.keepAliveMs ?? 15_000);
    res.on('close', () => {
      clearInterval(keepAlive);
      unsubscribe();
      streams.delete(res);
    });
    const resumed = Number.isSafeInteger(last) && last > 0 ? feed.since(last) : undefined;
    if (resumed === undefined) {
      const t = await feed.snapshot();
      send('snapshot', t.revision, t);
      at = t.revision;
    } else {
      at = last;
      if (resumed !== null) {
        send('change', resumed.revision, resumed);
        at = resumed.revision;
      }
    }
    ready = true;
    for (const d of queued) {
      if (d.revision > at) {
        send('change', d.revision, d);
        at = d.revision;
      }
    }
  });

  app.addHook('preClose', async () => {
    // event streams never end by themselves: end them so close() does not wait for the pages
    for (const res of streams) res.end();
    await feed.close();
  });
  return app;
}
