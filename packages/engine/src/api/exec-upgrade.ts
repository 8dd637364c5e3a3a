/**
 * The engine's streaming routes: `POST /v1/containers/:ref/exec` and `.../attach` as
 * HTTP upgrades (the protocol: ExecRequest and AttachRequest in @vxnet/common/api
 * engine.ts). Node hands requests
 * that ask for an upgrade to the server's 'upgrade' listener, around fastify's
 * router, so this module answers them on the raw socket: a JSON error answer like
 * every other route's when the request or the container is wrong, else
 * `101 Switching Protocols` and the frame stream.
 */
import type { IncomingMessage, Server } from 'node:http';
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import { InvalidArgument, apiErrorAnswer, type Logger } from '@vxnet/common';
import type { AttachRequest, ExecRequest } from '@vxnet/common/api';
import type { Engine } from '../engine.js';

const STREAM_PATH = /^\/v1\/containers\/([^/?]+)\/(exec|attach)(?:\?.*)?$/;
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
  const m = STREAM_PATH.exec(req.url ?? '');
  if (req.method !== 'POST' || !m || req.headers.upgrade?.toLowerCase() !== 'tcp') {
    throw new InvalidArgument(`${req.method} ${req.url} cannot be upgraded (only POST /v1/containers/:ref/exec or /attach with Upgrade: tcp)`);
  }
  const what = m[2] as 'exec' | 'attach';
  const { body, rest } = await readBody(socket, head, Number(req.headers['content-length'] ?? 0));
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    throw new InvalidArgument(`could not ${what}: the request body is not JSON`);
  }
  const ref = decodeURIComponent(m[1] as string);
  const start = what === 'exec' ? engine.exec(ref, checkExecRequest(parsed)) : engine.attach(ref, checkAttachRequest(parsed));
  socket.write('HTTP/1.1 101 Switching Protocols\r\nconnection: Upgrade\r\nupgrade: tcp\r\n\r\n');
  await start(socket, rest).catch(() => undefined); // logged where it failed
}

/** The request body (Content-Length bytes, from what came with the headers, then the socket) and what follows it. */
function readBody(socket: Duplex, head: Buffer, length: number): Promise<{ body: Buffer; rest: Buffer }> {
  if (!Number.isInteger(length) || length <= 0 || length > MAX_BODY) {
    return Promise.reject(new InvalidArgument(`could not start a stream: the request needs a JSON body of 1 to ${MAX_BODY} bytes (Content-Length)`));
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
    const onClose = () => reject(new InvalidArgument('could not start a stream: the connection closed before the request body ended'));
    if (check()) return;
    socket.on('data', onData);
    socket.on('close', onClose);
  });
}

type Field = 'strings' | 'cmd' | 'boolean' | 'size' | 'string';
const EXEC_FIELDS: Record<string, Field> = { cmd: 'cmd', env: 'strings', stdin: 'boolean', tty: 'boolean', rows: 'size', cols: 'size' };
const ATTACH_FIELDS: Record<string, Field> = { stdin: 'boolean', rows: 'size', cols: 'size', detachKeys: 'string' };

export function checkExecRequest(v: unknown): ExecRequest {
  return checkBody(v, EXEC_FIELDS, 'exec') as unknown as ExecRequest;
}

export function checkAttachRequest(v: unknown): AttachRequest {
  return checkBody(v, ATTACH_FIELDS, 'attach') as AttachRequest;
}

/** The body's shape, checked as a route schema would; every problem in one error. */
function checkBody(v: unknown, fields: Record<string, Field>, what: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new InvalidArgument(`could not ${what}: the request body must be a JSON object`);
  const r = v as Record<string, unknown>;
  const problems: string[] = [];
  for (const k of Object.keys(r)) if (!(k in fields)) problems.push(`unknown field "${k}"`);
  for (const [k, kind] of Object.entries(fields)) {
    const x = r[k];
    if (x === undefined && kind !== 'cmd') continue;
    const strings = Array.isArray(x) && x.every((e) => typeof e === 'string');
    if (kind === 'cmd' && (!strings || (x as string[]).length === 0)) problems.push(`${k} must be a non-empty array of strings`);
    if (kind === 'strings' && !strings) problems.push(`${k} must be an array of strings`);
    if (kind === 'boolean' && typeof x !== 'boolean') problems.push(`${k} must be a boolean`);
    if (kind === 'string' && typeof x !== 'string') problems.push(`${k} must be a string`);
    if (kind === 'size' && !(Number.isInteger(x) && (x as number) >= 0 && (x as number) <= 0xffff)) problems.push(`${k} must be an integer from 0 to 65535`);
  }
  if (problems.length > 0) throw new InvalidArgument(`could not ${what}: ${problems.join('; ')}`);
  return r;
}
