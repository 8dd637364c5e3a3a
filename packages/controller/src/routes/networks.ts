/** /v1/networks: create, list, inspect, remove. */
import type { FastifyPluginAsync } from 'fastify';
import type { CreateNetworkRequest } from '@vxnet/common/api';
import { InvalidArgument } from '@vxnet/common';
import { MAX_PAGE, type NetworkService } from '../network/network-service.js';
import { createNetworkBody, errorResponses, networkDetailSchema } from '../schemas.js';

const refParams = { type: 'object', properties: { ref: { type: 'string', description: 'network name, id or unique id prefix' } }, required: ['ref'] } as const;

export const networkRoutes: FastifyPluginAsync<{ networks: NetworkService }> = async (app, { networks }) => {
  app.post<{ Body: CreateNetworkRequest }>('/networks', {
    schema: { summary: 'create a network', body: createNetworkBody, response: { 201: { $ref: 'Network#' }, ...errorResponses } },
  }, async (req, reply) => {
    const spec = await networks.create(req.body);
    return reply.code(201).send(spec);
  });

  app.get<{ Querystring: { limit?: number; after?: string } }>('/networks', {
    schema: {
      summary: 'list networks by name: all of them, or with limit one page, continued with after=<next of the previous page>',
      querystring: {
        type: 'object',
        properties: {
          limit: { type: 'integer', minimum: 1, maximum: MAX_PAGE, description: 'at most this many networks; the answer has next when more follow' },
          after: { type: 'string', minLength: 1, description: 'only networks whose names sort after this one (bytes): the next of the previous page' },
        },
        additionalProperties: false,
      },
      response: {
        200: {
          type: 'object',
          properties: {
            networks: { type: 'array', items: { $ref: 'Network#' } },
            next: { type: 'string', description: 'with limit: present when more networks follow; pass it as after' },
          },
        },
        ...errorResponses,
      },
    },
  }, async (req) => {
    const { limit, after } = req.query;
    if (limit === undefined) {
      if (after !== undefined) throw new InvalidArgument(`after needs limit: pages are asked for with limit (1-${MAX_PAGE})`);
      return { networks: await networks.list() };
    }
    return networks.page(limit, after);
  });

  app.get<{ Params: { ref: string } }>('/networks/:ref', {
    schema: { summary: 'inspect a network: spec, and per host its subnet, gateway and endpoints', params: refParams, response: { 200: networkDetailSchema, ...errorResponses } },
  }, async (req) => networks.inspect(req.params.ref));

  app.delete<{ Params: { ref: string }; Querystring: { force?: boolean } }>('/networks/:ref', {
    schema: {
      summary: 'remove a network (refused while it has endpoints, unless force)',
      params: refParams,
      querystring: { type: 'object', properties: { force: { type: 'boolean' } }, additionalProperties: false },
      response: { 200: { type: 'object', properties: { removed: { $ref: 'Network#' } } }, ...errorResponses },
    },
  }, async (req) => ({ removed: await networks.remove(req.params.ref, req.query.force ?? false) }));
};
