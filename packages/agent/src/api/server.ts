/**
 * The agent's local API, on a unix socket (for the engine on this host, and tests):
 *   POST   /v1/endpoints      {network, sandbox, name, aliases?, ip?, container?, ifname?, owner?, ports?} -> 201 endpoint
 *   GET    /v1/endpoints
 *   DELETE /v1/endpoints/:id
 *   GET    /v1/status          host, joined networks and leases, egress
 *   POST   /v1/networks/:network/expose   -> ExposeResult (the host's address on the network; idempotent)
 *   DELETE /v1/networks/:network/expose   -> ExposeResult (404 when not exposed)
 *   POST   /v1/cni             CniRequest (a CNI call: CNI_* variables + stdin) -> CniAnswer (see @vxnet/cni wire.ts)
 *   GET    /metrics            Prometheus text (metrics/agent-metrics.ts); also on --metrics-addr
 */
import { randomBytes } from 'node:crypto';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { apiErrorAnswer, type Logger } from '@vxnet/common';
import { serveMetricsRoute, type DaemonMetrics } from '@vxnet/common/metrics';
import { createEndpointBodySchema, type AgentStatus, type CreateEndpointRequest, type ExposeResult } from '@vxnet/common/api';
import { CNI_API_PATH, CniError, answerVersion, parseCall, type CniAnswer, type CniRequest } from '@vxnet/cni';
import type { Agent } from '../agent.js';
import { CniService } from '../cni/cni-service.js';
import type { LeaseManager } from '../lease/lease-manager.js';

/** Random per process (AgentStatus.instance). */
const instance = randomBytes(8).toString('hex');

export function buildApi(agent: Agent, leases: LeaseManager, host: string, log: Logger, metrics?: DaemonMetrics): FastifyInstance {
  const cni = new CniService({ agent, host, log: log.child({ component: 'cni' }) });
  const app = Fastify({ loggerInstance: log.child({ component: 'api' }) as FastifyBaseLogger, ajv: { customOptions: { removeAdditional: false } } });
  app.setErrorHandler((err, req, reply) => {
    const answer = apiErrorAnswer(err);
    if (answer.internal) req.log.error({ err }, 'request failed');
    return reply.code(answer.statusCode).send(answer.body);
  });
  if (metrics) serveMetricsRoute(app, metrics);

  app.post<{ Body: CreateEndpointRequest }>('/v1/endpoints', {
    schema: { body: createEndpointBodySchema },
  }, async (req, reply) => reply.code(201).send(await agent.createEndpoint(req.body)));

  app.get('/v1/endpoints', async () => ({ endpoints: agent.endpoints() }));

  app.delete<{ Params: { id: string } }>('/v1/endpoints/:id', async (req) => {
    await agent.deleteEndpoint(req.params.id);
    return { deleted: req.params.id };
  });

  const networkParams = { type: 'object', required: ['network'], properties: { network: { type: 'string', minLength: 1, maxLength: 64 } } } as const;
  app.post<{ Params: { network: string } }>('/v1/networks/:network/expose', { schema: { params: networkParams } },
    async (req): Promise<ExposeResult> => agent.expose(req.params.network));
  app.delete<{ Params: { network: string } }>('/v1/networks/:network/expose', { schema: { params: networkParams } },
    async (req): Promise<ExposeResult> => agent.unexpose(req.params.network));

  // CNI answers are CNI errors, never vxnet's: the body is parsed here, as the executable did
  const cniBody = {
    type: 'object', required: ['env', 'stdin'], additionalProperties: false,
    properties: { env: { type: 'object', additionalProperties: { type: 'string' } }, stdin: { type: 'string', maxLength: 1_048_576 } },
  } as const;
  app.post<{ Body: CniRequest }>(CNI_API_PATH, { schema: { body: cniBody } }, async (req, reply): Promise<CniAnswer> => {
    let call;
    try {
      call = parseCall(req.body.env, req.body.stdin);
    } catch (err) {
      const e = err instanceof CniError ? err : new CniError(7, String(err));
      return reply.code(400).send({ error: e.body(answerVersion(req.body.stdin)) });
    }
    const { status, answer } = await cni.handle(call);
    return reply.code(status).send(answer);
  });

  app.get('/v1/status', async (): Promise<AgentStatus> => ({
    host,
    instance,
    networks: leases.all().map((l) => ({
      id: l.networkId, name: agent.networks.get(l.networkId)?.name ?? null, subnet: l.subnet, vtepMac: l.vtepMac, netns: agent.netnsName(l.networkId),
      internal: agent.networks.get(l.networkId)?.internal ?? false,
      exposedIp: agent.exposedIp(l.networkId) ?? null,
    })),
    alivePeers: [...agent.alive].filter((h) => h !== host).sort(),
    egress: agent.egress,
    // built field by field: the status object is the agent's, and only public parts go out
    encryption: agent.encryption.available
      ? { available: true, backend: agent.encryption.backend, device: agent.encryption.device, publicKey: agent.encryption.publicKey, tunnelIp: agent.encryption.tunnelIp, port: agent.encryption.port }
      : { available: false, reason: agent.encryption.reason },
  }));
  return app;
}
