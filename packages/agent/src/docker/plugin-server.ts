/**
 * The Docker plugin's transport: fastify on a unix socket answering dockerd's v1
 * plugin protocol (protocol.ts) with the driver's answers (docker-driver.ts).
 *
 *   POST /Plugin.Activate, /NetworkDriver.<Method>, /IpamDriver.<Method>
 *
 * - dockerd sends JSON with no Content-Type (trap D1: fastify would answer 415), so
 *   the only body parser takes any content type as text and parses it as JSON; an
 *   empty body is {}.
 * - Every answer is HTTP 200 with Docker's JSON; a refusal is `{"Err": "..."}`
 *   (Plugin, NetworkDriver) or `{"Error": "..."}` (IpamDriver), the message saying
 *   what could not be done and why. A body that is not JSON is 400 `{"Err"}` (what
 *   dockerd reads from any non-2xx); an unknown method is 404 `{"Err"}`.
 * - Every call is bounded (trap D7: dockerd has no timeout for v1 plugins, and a
 *   call that hangs hangs dockerd): after timeoutMs (10 s) the answer is a refusal
 *   saying the work goes on in the background; the driver's work is not cancelled,
 *   and what it leaves is the sweep's (docker-driver.ts).
 */
import { lstatSync, mkdirSync, rmSync } from 'node:fs';
import net from 'node:net';
import { dirname } from 'node:path';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Logger } from '@vxnet/common';

import { DockerBadRequest, DockerTimeout } from '../errors.js';
import type { Body, DockerDriver } from './docker-driver.js';
import { METHODS, PLUGIN_CONTENT_TYPE, errorKey, type PluginInterface } from './protocol.js';

export interface PluginServerOptions {
  driver: DockerDriver;
  host: string;
  log: Logger;
  /** Longest a call may take before it is answered with a refusal, ms (default 10,000). */
  timeoutMs?: number;
}

type Handler = (body: Body) => unknown;

/** The driver's method for each path. */
function handlers(d: DockerDriver): Record<PluginInterface, Record<string, Handler>> {
  const none = () => ({});
  return {
    Plugin: { Activate: () => d.activate() },
    NetworkDriver: {
      GetCapabilities: () => d.networkCapabilities(),
      CreateNetwork: (b) => d.createNetwork(b),
      DeleteNetwork: (b) => d.deleteNetwork(b),
      AllocateNetwork: () => d.allocateNetwork(),
      FreeNetwork: none,
      CreateEndpoint: (b) => d.createEndpoint(b),
      DeleteEndpoint: (b) => d.deleteEndpoint(b),
      EndpointOperInfo: (b) => d.endpointOperInfo(b),
      Join: (b) => d.join(b),
      Leave: (b) => d.leave(b),
      DiscoverNew: none,
      DiscoverDelete: none,
      // published ports are refused at CreateEndpoint; nothing else to program
      ProgramExternalConnectivity: none,
      RevokeExternalConnectivity: none,
    },
    IpamDriver: {
      GetCapabilities: () => d.ipamCapabilities(),
      GetDefaultAddressSpaces: () => d.defaultAddressSpaces(),
      RequestPool: (b) => d.requestPool(b),
      ReleasePool: (b) => d.releasePool(b),
      RequestAddress: (b) => d.requestAddress(b),
      ReleaseAddress: (b) => d.releaseAddress(b),
    },
  };
}

/** The plugin's fastify instance (not listening: see listenPluginSocket; tests may inject). */
export function buildPluginServer(o: PluginServerOptions): FastifyInstance {
  const log = o.log.child({ component: 'docker-plugin' });
  const app = Fastify({ loggerInstance: log as FastifyBaseLogger });
  const timeoutMs = o.timeoutMs ?? 10_000;

  // trap D1: no Content-Type from dockerd; whatever it says, the body is JSON
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'string' }, (_req, text, done) => {
    const s = String(text).trim();
    if (s === '') return done(null, {});
    try {
      done(null, JSON.parse(s) ?? {});
    } catch (err) {
      done(new DockerBadRequest('plugin', `the body is not JSON (${(err as Error).message})`), undefined);
    }
  });
  app.setErrorHandler((err, _req, reply) => {
    // only what fails before a handler runs (a body that is not JSON): handlers answer their own refusals
    void reply.code(400).type(PLUGIN_CONTENT_TYPE).send({ Err: err instanceof Error ? err.message : String(err) });
  });
  app.setNotFoundHandler((req, reply) => {
    void reply.code(404).type(PLUGIN_CONTENT_TYPE).send({ Err: `vxnet does not implement ${req.method} ${req.url}` });
  });

  const table = handlers(o.driver);
  for (const [iface, methods] of Object.entries(METHODS) as Array<[PluginInterface, readonly string[]]>) {
    for (const method of methods) {
      const handle = table[iface][method];
      if (!handle) throw new Error(`no handler for ${iface}.${method}`);
      const what = `${iface}.${method}`;
      // fastify's per-request lines off (warn): one line per refused call is logged below
      app.post(`/${what}`, { logLevel: 'warn' }, async (req, reply) => {
        const start = performance.now();
        const body = (typeof req.body === 'object' && req.body !== null ? req.body : {}) as Body;
        void reply.type(PLUGIN_CONTENT_TYPE);
        try {
          const out = await bounded(Promise.resolve().then(() => handle(body)), timeoutMs, () => new DockerTimeout(`answer ${what}`, String(timeoutMs / 1000), o.host));
          log.debug({ call: what, ms: Math.round(performance.now() - start), request: body }, 'Docker call answered');
          return out;
        } catch (err) {
          const message = err instanceof Error ? err.message : String(err);
          log.info({ call: what, ms: Math.round(performance.now() - start), err: { code: (err as { code?: string }).code, message } }, 'Docker call refused');
          return { [errorKey(iface)]: message };
        }
      });
    }
  }
  return app;
}

/** `p`, or `timeout()` thrown after `ms`; `p` goes on either way. */
function bounded<T>(p: Promise<T>, ms: number, timeout: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(timeout()), ms);
  });
  void p.catch(() => undefined); // a late failure after the timeout answered is the driver's to log
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

/**
 * Listen on `path`, making its directory. A socket file left by a dead process is
 * replaced; one another process still answers on is not (throws: two agents must not
 * steal each other's dockerd). Resolves with a function that closes the server and
 * removes the file.
 */
export async function listenPluginSocket(app: FastifyInstance, path: string): Promise<() => Promise<void>> {
  mkdirSync(dirname(path), { recursive: true });
  let exists = false;
  try {
    exists = lstatSync(path).isSocket();
    if (!exists) throw new Error(`${path} exists and is not a socket`);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  if (exists && (await answers(path))) throw new Error(`another process serves ${path} (a second vxnet agent?)`);
  rmSync(path, { force: true });
  await app.listen({ path });
  return async () => {
    await app.close();
    rmSync(path, { force: true });
  };
}

/** True when something accepts a connection on the unix socket `path` within 1 s. */
function answers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const c = net.connect(path);
    const timer = setTimeout(() => {
      c.destroy();
      resolve(false);
    }, 1000);
    c.once('connect', () => {
      clearTimeout(timer);
      c.destroy();
      resolve(true);
    });
    c.once('error', () => {
      clearTimeout(timer);
      resolve(false);
    });
  });
}
