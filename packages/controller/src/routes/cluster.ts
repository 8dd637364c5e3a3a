/** /v1/hosts and /v1/leases: what agents registered and leased. */
import type { FastifyPluginAsync } from 'fastify';
import type { ClusterView } from '../cluster/cluster-view.js';
import { errorResponses, leaseDetailSchema } from '../schemas.js';

export const clusterRoutes: FastifyPluginAsync<{ cluster: ClusterView }> = async (app, { cluster }) => {
  app.get('/hosts', {
    schema: { summary: 'every host that ever registered, with its liveness', response: { 200: { type: 'object', properties: { hosts: { type: 'array', items: { $ref: 'Host#' } } } }, ...errorResponses } },
  }, async () => ({ hosts: await cluster.hosts() }));

  app.get<{ Querystring: { network?: string; host?: string } }>('/leases', {
    schema: {
      summary: 'subnet leases, optionally of one network and/or host',
      querystring: { type: 'object', properties: { network: { type: 'string' }, host: { type: 'string' } }, additionalProperties: false },
      response: { 200: { type: 'object', properties: { leases: { type: 'array', items: { $ref: 'Lease#' } } } }, ...errorResponses },
    },
  }, async (req) => ({ leases: await cluster.leases(req.query) }));

  app.get<{ Params: { network: string; subnet: string } }>('/leases/:network/:subnet', {
    schema: {
      summary: 'one subnet lease in full (subnet as 10.0.1.0_24 or URL-encoded 10.0.1.0%2F24)',
      params: { type: 'object', properties: { network: { type: 'string' }, subnet: { type: 'string' } }, required: ['network', 'subnet'] },
      response: { 200: leaseDetailSchema, ...errorResponses },
    },
  }, async (req) => cluster.lease(req.params.network, req.params.subnet.replace('_', '/')));
};
