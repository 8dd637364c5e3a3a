/**
 * The engine's streaming route: `POST /v1/containers/:ref/exec` as an HTTP upgrade
 * (the protocol: ExecRequest in @vxnet/common/api engine.ts). Node hands requests
 * that ask for an upgrade to the server's 'upgrade' listener, around fastify's
 * router, so this module answers them on the raw socket: a JSON error answer like
 * every other route's when the request or the container is wrong, else
 * `101 Switching Protocols` and the frame stream.
 */
import type { IncomingMessage, Server } from 'node:http';
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import { InvalidArgument, apiErrorAnswer, type Logger } from '@vxnet/common';
import type { ExecRequest } from '@vxnet/common/api';
import type { Engine } from '../engine.js';

const EXEC_PATH = /^\/v1\/containers\/([^/?]+)\/exec(?:\?.*)?$/;
const MAX_BODY = 1 << 20;

export function serveUpgrades(server: Server, engine: Engine, log: Logger): void {
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => undefined);
    upgrade(req, socket, head, engine).catch((err: unknown) => {
      const answer = apiErrorAnswer(err);
      if (answer.internal) log.error({ err, url: req.url }, 'upgrade request failed');
      if (socket.writable) {
        const body = JSON.stringify(answer.body);
        socket.end(`HTTP/1.1 ${answer.statusCode} ${STATUS_CODES[answer.statusCode] ?? ''}\r\ncontent-type: application/json\r\n`
          + `content-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
      }
    });
  });
}

async function upgrade(req: IncomingMessage, socket: Duplex, head: Buffer, engine: Engine): Promise<void> {
  const m = EXEC_PATH.exec(req.url ?? '');
  if (req.method !== 'POST' || !m || req.headers.upgrade?.toLowerCase() !== 'tcp') {
    throw new InvalidArgument(`${req.method} ${req.url} cannot be upgraded (only POST /v1/containers/:ref/exec with Upgrade: tcp)`);
  }
  const { body, rest } = await readBody(socket, head, Number(req.headers['content-length'] ?? 0));
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    throw new InvalidArgument('could not exec: the request body is not JSON');
  }
  const start = engine.exec(decodeURIComponent(m[1] as string), checkExecRequest(parsed));
  socket.write('HTTP/1.1 101 Switching Protocols\r\nconnection: Upgrade\r\nupgrade: tcp\r\n\r\n');
  await start(socket, rest).catch(() => undefined); // logged by the session
}

/** The request body (Content-Length bytes, from what came with the headers, then the socket) and what follows it. */
function readBody(socket: Duplex, head: Buffer, length: number): Promise<{ body: Buffer; rest: Buffer }> {
  if (!Number.isInteger(length) || length <= 0 || length > MAX_BODY) {
    return Promise.reject(new InvalidArgument(`could not exec: the request needs a JSON body of 1 to ${MAX_BODY} bytes (Content-Length)`));
  }
  return new Promise((resolve, reject) => {
    let buf = head;
    const check = () => {
      if (buf.length < length) return false;
      socket.off('data', onData);
      socket.off('close', onClose);
      socket.pause();
      resolve({ body: buf.subarray(0, length), rest: buf.subarray(length) });
      return true;
    };
    const onData = (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      check();
    };
    const onClose = () => reject(new InvalidArgument('could not exec: the connection closed before the request body ended'));
    if (check()) return;
    socket.on('data', onData);
    socket.on('close', onClose);
  });
}

/** The body's shape, checked as a route schema would; every problem in one error. */
export function checkExecRequest(v: unknown): ExecRequest {
  const problems: string[] = [];
  const isStrings = (x: unknown) => Array.isArray(x) && x.every((e) => typeof e === 'string');
  const isSize = (x: unknown) => Number.isInteger(x) && (x as number) >= 0 && (x as number) <= 0xffff;
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new InvalidArgument('could not exec: the request body must be a JSON object');
  const r = v as Record<string, unknown>;
  for (const k of Object.keys(r)) if (!['cmd', 'env', 'stdin', 'tty', 'rows', 'cols'].includes(k)) problems.push(`unknown field "${k}"`);
  if (!isStrings(r.cmd) || (r.cmd as string[]).length === 0) problems.push('cmd must be a non-empty array of strings');
  if (r.env !== undefined && !isStrings(r.env)) problems.push('env must be an array of strings');
  for (const k of ['stdin', 'tty']) if (r[k] !== undefined && typeof r[k] !== 'boolean') problems.push(`${k} must be a boolean`);
  for (const k of ['rows', 'cols']) if (r[k] !== undefined && !isSize(r[k])) problems.push(`${k} must be an integer from 0 to 65535`);
  if (problems.length > 0) throw new InvalidArgument(`could not exec: ${problems.join('; ')}`);
  return r as unknown as ExecRequest;
}
