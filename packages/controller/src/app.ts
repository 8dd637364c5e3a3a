/**
 * build(): the controller's fastify instance, without listening (bin.ts listens; tests
 * use inject()). Routes are one plugin per resource under /v1; the OpenAPI document is
 * at /openapi.json.
 */
import { timingSafeEqual } from 'node:crypto';
import type { TLSSocket } from 'node:tls';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import swagger from '@fastify/swagger';
import { apiErrorAnswer, type Keys, type Logger, type Store } from '@vxnet/common';
import { serveMetricsRoute, type DaemonMetrics } from '@vxnet/common/metrics';
import { ClusterView } from './cluster/cluster-view.js';
import { ClientCertificateRefused, Unauthorized } from './errors.js';
import type { PoolConfig } from './network/allocate.js';
import { NetworkService } from './network/network-service.js';
import { clusterRoutes } from './routes/cluster.js';
import { networkRoutes } from './routes/networks.js';
import { endpointSchema, errorSchema, hostSchema, leaseSchema, networkSchema } from './schemas.js';

export const API_VERSION = '0.1.0';

export interface AppOptions {
  store: Store;
  keys: Keys;
  pool: PoolConfig;
  logger: Logger;
  /**
   * When set, every request must carry `Authorization: Bearer <token>`, else 401
   * before any route runs. bin.ts gives it to the TCP listener's app only.
   */
  token?: string;
  /**
   * Serve HTTPS with this certificate and key (PEM); with `clientCa`, every request
   * must come with a client certificate that CA signed, else 403 before any route runs
   * (and before the token is looked at), saying which: none, unknown CA, expired.
   *
   * Why after the handshake and not during it: Node's TLS server checks the client's
   * certificate after the handshake and, when `rejectUnauthorized`, just closes the
   * connection without an alert, so a client cannot tell an expired certificate from
   * another CA's from a network fault. nginx's `ssl_verify_client optional` plus a 400
   * is the same design. bin.ts gives it to the TCP listener's app only.
   */
  tls?: { cert: string; key: string; clientCa?: string };
  /**
   * Serve `GET /metrics` from this registry (bin.ts makes one, shared by both
   * listeners). It sits behind the same client-certificate and token checks as every
   * route: Prometheus sends both (docs/deploy.md, "Metrics").
   */
  metrics?: DaemonMetrics;
}

/** Why a TLS client's certificate was not accepted, in the words of common/tls.ts. */
function clientCertificateProblem(socket: TLSSocket): string {
  const peer = socket.getPeerCertificate();
  if (!peer || Object.keys(peer).length === 0) return 'none was sent (no client certificate configured: the CLI takes --cert-file and --key-file)';
  const code = String(socket.authorizationError ?? '');
  if (code === 'CERT_HAS_EXPIRED') return `it has expired (valid until ${new Date(peer.valid_to).toISOString()})`;
  if (code === 'CERT_NOT_YET_VALID') return `it is not valid yet (valid from ${new Date(peer.valid_from).toISOString()}): check the clocks`;
  if (['UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'UNABLE_TO_GET_ISSUER_CERT', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'SELF_SIGNED_CERT_IN_CHAIN', 'CERT_SIGNATURE_FAILURE'].includes(code)) {
    return 'it is not signed by a CA this controller trusts (unknown CA: it was signed by another CA than tlsClientCa)';
  }
  return `it did not verify (${code || 'unknown reason'})`;
}

export async function build(opts: AppOptions): Promise<FastifyInstance> {
  const options = {
    loggerInstance: opts.logger.child({ component: 'http' }) as FastifyBaseLogger,
    // unknown fields are an error, not silently dropped (fastify's default removes them)
    ajv: { customOptions: { removeAdditional: false } },
  };
  // the routes do not care which server carries them: one instance type for both
  const app = opts.tls
    ? Fastify({
      ...options,
      https: {
        cert: opts.tls.cert,
        key: opts.tls.key,
        minVersion: 'TLSv1.2',
        ...(opts.tls.clientCa !== undefined ? { ca: opts.tls.clientCa, requestCert: true, rejectUnauthorized: false } : {}),
      },
    }) as unknown as FastifyInstance
    : Fastify(options);
  const networks = new NetworkService(opts.store, opts.keys, opts.pool, opts.logger.child({ component: 'networks' }));
  const cluster = new ClusterView(opts.store, opts.keys, networks);

  if (opts.tls?.clientCa !== undefined) {
    // first of the hooks: nothing else runs for a request without a good certificate
    app.addHook('onRequest', async (req) => {
      const socket = req.raw.socket as TLSSocket;
      if (socket.authorized) return;
      const why = clientCertificateProblem(socket);
      req.log.warn({ client: socket.remoteAddress, authorizationError: socket.authorizationError, why }, 'client certificate refused');
      throw new ClientCertificateRefused(why);
    });
  }

  if (opts.token !== undefined) {
    const expected = Buffer.from(`Bearer ${opts.token}`);
    app.addHook('onRequest', async (req) => {
      const got = Buffer.from(req.headers.authorization ?? '');
      if (got.length !== expected.length || !timingSafeEqual(got, expected)) throw new Unauthorized();
    });
  }

  app.setErrorHandler((err, req, reply) => {
    const answer = apiErrorAnswer(err);
    if (answer.internal) req.log.error({ err }, 'request failed');
    return reply.code(answer.statusCode).send(answer.body);
  });
  if (opts.metrics) serveMetricsRoute(app, opts.metrics);
  app.setNotFoundHandler((req, reply) => reply.code(404).send({ code: 'VXNET_NO_ROUTE', message: `no route ${req.method} ${req.url}` }));

  await app.register(swagger, {
    openapi: {
      info: { title: 'vxnet controller', version: API_VERSION, description: 'Networks, VNIs, address pools, hosts and subnet leases of a vxnet cluster' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
    },
  });
  for (const s of [errorSchema, networkSchema, endpointSchema, hostSchema, leaseSchema]) app.addSchema(s);

  await app.register(networkRoutes, { prefix: '/v1', networks });
  await app.register(clusterRoutes, { prefix: '/v1', cluster });
  app.get('/v1/health', { schema: { summary: 'controller and store health' } }, async () => {
    await opts.store.get(opts.keys.allocations);
    return { ok: true, version: API_VERSION };
  });
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  return app;
}
