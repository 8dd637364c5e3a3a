/**
 * The local agent's API, over its unix socket: endpoints for sandboxes. Agent errors
 * keep their code, status and message (they already say what failed and why).
 */
import { Agent as HttpAgent, request } from 'node:http';
import { VxnetError } from '@vxnet/common';
import type { CreateEndpointRequest, LocalEndpoint } from '@vxnet/agent';
import { AgentUnreachable } from './errors.js';

export type AgentEndpoint = LocalEndpoint;

export class AgentClient {
  private readonly http = new HttpAgent({ keepAlive: true, maxSockets: 8 });

  constructor(readonly socketPath: string) {}

  /** Attach a sandbox to a network (POST /v1/endpoints). Not idempotent: each call makes an endpoint. */
  createEndpoint(req: CreateEndpointRequest): Promise<AgentEndpoint> {
    return this.call<AgentEndpoint>('POST', '/v1/endpoints', req);
  }

  /** Detach (DELETE /v1/endpoints/:id). Idempotent: an unknown endpoint is success. */
  async deleteEndpoint(id: string): Promise<void> {
    try {
      await this.call('DELETE', `/v1/endpoints/${encodeURIComponent(id)}`);
    } catch (err) {
      if (err instanceof VxnetError && err.statusCode === 404) return;
      throw err;
    }
  }

  async listEndpoints(): Promise<AgentEndpoint[]> {
    return (await this.call<{ endpoints: AgentEndpoint[] }>('GET', '/v1/endpoints')).endpoints;
  }

  close(): void {
    this.http.destroy();
  }

  private call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    return new Promise((resolve, reject) => {
      const req = request({
        socketPath: this.socketPath, method, path, agent: this.http, timeout: 30_000,
        headers: payload === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) },
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
          reject(new VxnetError(e?.code ?? 'VXNET_AGENT_ERROR', status, e?.message ?? `the agent answered ${status}`));
        });
      });
      req.on('timeout', () => req.destroy(new Error('timed out after 30 s')));
      req.on('error', (err) => reject(new AgentUnreachable(this.socketPath, err.message, err)));
      if (payload !== undefined) req.write(payload);
      req.end();
    });
  }
}
