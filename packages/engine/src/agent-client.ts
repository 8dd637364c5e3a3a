/**
 * The local agent's API, over its unix socket: endpoints for sandboxes. Agent errors
 * keep their code, status and message (they already say what failed and why).
 */
import { Agent as HttpAgent } from 'node:http';
import { VxnetError, callJson } from '@vxnet/common';
import type { CreateEndpointRequest, LocalEndpoint } from '@vxnet/common/api';
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
    return callJson<T>({ socketPath: this.socketPath, agent: this.http }, method, path, body, {
      timeoutMs: 30_000,
      who: 'the agent',
      unreachable: (err) => new AgentUnreachable(this.socketPath, err.message, err),
    });
  }
}
