/** JSON over HTTP on a unix socket: how tests and benchmarks talk to a lab's controller, agents and engines. */
import { request, type Agent } from 'node:http';

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
