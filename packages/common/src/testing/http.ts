/** JSON over HTTP on a unix socket: how tests and benchmarks talk to a lab's controller, agents and engines. */
import { request, type Agent } from 'node:http';
import { Frame, FrameDecoder, type ExecExit, type ExecRequest } from '../api/index.js';

export interface HttpResult<T = any> {
  status: number;
  body: T;
}

/** One request; `agent` (keep-alive) for benchmarks that must not pay a connect per call. */
export function unixJson<T = any>(socketPath: string, method: string, path: string, body?: unknown, agent?: Agent): Promise<HttpResult<T>> {
  const payload = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request({
      socketPath, method, path, ...(agent ? { agent } : {}),
      headers: payload === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) },
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString();
        resolve({ status: res.statusCode ?? 0, body: text ? JSON.parse(text) : undefined });
      });
    });
    req.on('error', reject);
    if (payload !== undefined) req.write(payload);
    req.end();
  });
}

export interface ExecOutput {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/**
 * An exec through the engine's upgrade route (ExecRequest in api/engine.ts), its
 * output collected: for benchmarks that exec too often to start the CLI each time.
 * Rejects with the engine's answer when it refuses the upgrade.
 */
export function unixExec(socketPath: string, ref: string, req: ExecRequest): Promise<ExecOutput> {
  const payload = JSON.stringify(req);
  return new Promise((resolve, reject) => {
    const r = request({
      socketPath, method: 'POST', path: `/v1/containers/${encodeURIComponent(ref)}/exec`, agent: false,
      headers: { connection: 'Upgrade', upgrade: 'tcp', 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) },
    });
    r.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => reject(new Error(`exec refused (${res.statusCode}): ${Buffer.concat(chunks).toString()}`)));
    });
    r.on('upgrade', (_res, socket, head) => {
      const decoder = new FrameDecoder();
      const out = { exitCode: -1, stdout: '', stderr: '' };
      const onData = (chunk: Buffer) => {
        for (const f of decoder.push(chunk)) {
          if (f.type === Frame.stdout) out.stdout += f.payload.toString();
          else if (f.type === Frame.stderr) out.stderr += f.payload.toString();
          else if (f.type === Frame.exit) out.exitCode = (JSON.parse(f.payload.toString()) as ExecExit).exitCode;
        }
      };
      onData(head);
      socket.on('data', onData);
      socket.on('error', reject);
      socket.on('close', () => (out.exitCode >= 0 ? resolve(out) : reject(new Error('exec stream closed without an exit frame'))));
    });
    r.on('error', reject);
    r.end(payload);
  });
}
