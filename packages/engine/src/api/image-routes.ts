/**
 * The image routes of the engine API:
 *   POST   /v1/images/load      body: the archive (Content-Type application/x-tar; gzip
 *                               or not), streamed -> 200 ImageLoadResult
 *   POST   /v1/images/pull      body: ImagePullRequest (ref, credentials, CA) -> 200 ImagePullResult
 *   GET    /v1/images           -> {images: ImageView[]}
 *   GET    /v1/images/:ref      -> ImageView (ref: name[:tag], sha256:<hex>, id prefix)
 *   DELETE /v1/images/:ref      -> {id, untagged, deleted}; 409 while a container uses it
 * The archive is never buffered whole: the body stream goes to the unpacker as it comes.
 */
import type { FastifyInstance } from 'fastify';
import { PassThrough, type Readable } from 'node:stream';
import { InvalidArgument } from '@vxnet/common';
import type { ImagePullRequest } from '@vxnet/common/api';
import type { Engine } from '../engine.js';

/** The body type of image load and of cp into a container (server.ts hands such bodies to the route as the raw stream). */
export const TAR_TYPE = 'application/x-tar';

export function imageRoutes(app: FastifyInstance, engine: Engine): void {
  app.post<{ Body: Readable }>('/v1/images/load', async (req) => {
    const body = req.body as unknown;
    if (typeof body !== 'object' || body === null || !(Symbol.asyncIterator in body)) {
      throw new InvalidArgument(`could not load image: send the archive as the body, with Content-Type ${TAR_TYPE}`);
    }
    // the unpacker stops reading at the first problem; read the rest, so the client (still
    // sending) gets the answer rather than a reset connection
    const archive = new PassThrough();
    req.body.pipe(archive);
    try {
      return await engine.loadImages(archive);
    } catch (err) {
      req.body.unpipe(archive);
      req.body.resume();
      throw err;
    }
  });
  app.post<{ Body: ImagePullRequest }>('/v1/images/pull', {
    schema: {
      body: {
        type: 'object', required: ['ref'], additionalProperties: false,
        properties: { ref: { type: 'string', minLength: 1, maxLength: 512 }, username: { type: 'string' }, password: { type: 'string' }, ca: { type: 'string', maxLength: 1 << 20 } },
      },
    },
  }, async (req) => engine.pullImage(req.body));
  app.get('/v1/images', async () => ({ images: engine.images() }));
  app.get<{ Params: { ref: string } }>('/v1/images/:ref', async (req) => engine.inspectImage(req.params.ref));
  app.delete<{ Params: { ref: string } }>('/v1/images/:ref', async (req) => engine.removeImage(req.params.ref));
}
