/**
 * The agent's local API, on a unix socket (for the engine on this host, and tests):
 *   POST   /v1/endpoints      {network, sandbox, name, aliases?, ip?, container?, ifname?, owner?, ports?} -> 201 endpoint
 *   GET    /v1/endpoints
 *   DELETE /v1/endpoints/:id
 *   GET    /v1/status          host, joined networks and leases, egress
 *   POST   /v1/networks/:network/expose   -> ExposeResult (the host's address on the network; idempotent)
 *   DELETE /v1/networks/:network/expose   -> ExposeResult (404 when not exposed)
 */
import { randomBytes } from 'node:crypto';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { apiErrorAnswer, type Logger } from '@vxnet/common';
import { createEndpointBodySchema, type AgentStatus, type CreateEndpointRequest, type ExposeResult } from '@vxnet/common/api';
import type { Agent } from '../agent.js';
import type { LeaseManager } from '../lease/lease-manager.js';

/** Random per process (AgentStatus.instance). */
const instance = randomBytes(8).toString('hex');

export function buildApi(agent: Agent, leases: LeaseManager, host: string, log: Logger): FastifyInstance {
  const app = Fastify({ loggerInstance: log.child({ component: 'api' }) as FastifyBaseLogger, ajv: { customOptions: { removeAdditional: false } } });
  app.setErrorHandler((err, req, reply) => {
    const answer = apiErrorAnswer(err);
    if (answer.internal) req.log.error({ err }, 'request failed');
    return reply.code(answer.statusCode).send(answer.body);
  });

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
  }));
  return app;
}
