/**
 * The agent's local API, on a unix socket (for the engine on this host, and tests):
 *   POST   /v1/endpoints      {network, sandbox, name, aliases?, ip?, container?, ifname?} -> 201 endpoint
 *   GET    /v1/endpoints
 *   DELETE /v1/endpoints/:id
 *   GET    /v1/status          host, joined networks and leases
 */
import { randomBytes } from 'node:crypto';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { apiErrorAnswer, type Logger } from '@vxnet/common';
import { createEndpointBodySchema, type AgentStatus, type CreateEndpointRequest } from '@vxnet/common/api';
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

  app.get('/v1/status', async (): Promise<AgentStatus> => ({
    host,
    instance,
    networks: leases.all().map((l) => ({ id: l.networkId, name: agent.networks.get(l.networkId)?.name ?? null, subnet: l.subnet, vtepMac: l.vtepMac, netns: agent.netnsName(l.networkId),
      // local compile fix on egress-lab only; the agent branch (egress-agent) implements these
      internal: agent.networks.get(l.networkId)?.internal ?? false, exposedIp: null })),
    alivePeers: [...agent.alive].filter((h) => h !== host).sort(),
    egress: { available: false, reason: 'not implemented on this branch' },
  }));
  return app;
}
