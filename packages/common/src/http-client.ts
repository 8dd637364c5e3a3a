/**
 * One JSON call to a vxnet daemon's API (controller, agent, engine), over a unix
 * socket or TCP. The daemons answer errors as `{code, message}`; this turns them
 * back into VxnetErrors, so a user error crosses process boundaries intact.
 */
import { request as httpRequest, type Agent } from 'node:http';
import { VxnetError } from './errors.js';

export interface HttpTarget {
  socketPath?: string;
  host?: string;
  port?: number;
  /** Bearer token. */
  token?: string;
  /** Keep-alive agent, for clients that make many calls. */
  agent?: Agent;
  /**
   * HTTPS (TCP targets only): PEM CA that signed the server's certificate, and the
   * client certificate and key to present when the server asks for one.
   */
  tls?: { ca?: string; cert?: string; key?: string };
}

export interface CallOptions {
  /** Per request, ms; null: none (long waits such as exec). */
  timeoutMs: number | null;
  /** Who answered, for messages: "the engine", "the controller at unix:///…". */
  who: string;
  /**
   * The error for a request that got no answer: the connection failed (daemon not
   * running, socket missing: `sent` false), or broke or timed out after it was made
   * (`sent` true: the daemon may have acted on the request).
   */
  unreachable: (err: Error, how?: { sent: boolean }) => Error;
}

/**
 * Resolves with the parsed body on 2xx. Otherwise rejects with a VxnetError carrying
 * the daemon's code, message and HTTP status, or with `unreachable(err)`.
 */
export async function callJson<T>(target: HttpTarget, method: string, path: string, body: unknown, opts: CallOptions): Promise<T> {
  const payload = body === undefined ? undefined : JSON.stringify(body);
  const tls = target.socketPath === undefined ? target.tls : undefined;
  // node:https (with tls and crypto) only for an HTTPS target: most calls go to a unix
  // socket, and loading it costs every CLI command about 5 ms of start-up
  const request = tls ? (await import('node:https')).request : httpRequest;
  return new Promise((resolve, reject) => {
    const req = request({
      method,
      path,
      ...(target.socketPath ? { socketPath: target.socketPath } : { host: target.host, port: target.port }),
      ...(tls ? { ...tls, rejectUnauthorized: true } : {}),
      ...(target.agent ? { agent: target.agent } : {}),
      // 0, not absent, for none: absent, Node's global agent applies its own 5 s socket timeout
      timeout: opts.timeoutMs ?? 0,
      headers: {
        accept: 'application/json',
        ...(payload !== undefined ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } : {}),
        ...(target.token !== undefined ? { authorization: `Bearer ${target.token}` } : {}),
      },
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json: unknown;
        try {
          json = text === '' ? undefined : JSON.parse(text);
        } catch {
          json = undefined;
        }
        const status = res.statusCode ?? 0;
        if (status >= 200 && status < 300) return resolve(json as T);
        const e = json as { code?: string; message?: string } | undefined;
        reject(new VxnetError(e?.code ?? 'VXNET_HTTP_ERROR', status, e?.message ?? `${opts.who} answered ${status}`));
      });
    });
    let connected = false;
    req.on('socket', (socket) => {
      // a reused keep-alive socket is connected already; a new one says so on 'connect'
      if (!socket.connecting) connected = true;
      else socket.once('connect', () => { connected = true; });
    });
    req.on('timeout', () => req.destroy(new Error(`timed out after ${opts.timeoutMs} ms`)));
    req.on('error', (err) => reject(opts.unreachable(err, { sent: connected })));
    if (payload !== undefined) req.write(payload);
    req.end();
  });
}
