/**
 * The local agent's API, over its unix socket: endpoints for sandboxes. Agent errors
 * keep their code, status and message (they already say what failed and why).
 */
import { Agent as HttpAgent } from 'node:http';
import { VxnetError, callJson } from '@vxnet/common';
import type { AgentStatus, CreateEndpointRequest, ExposeResult, LocalEndpoint } from '@vxnet/common/api';
import { AgentUnreachable } from './errors.js';

export type AgentEndpoint = LocalEndpoint;

/**
 * What the engine needs of its agent. Every method throws AgentUnreachable when the
 * agent did not answer (no socket, connection refused or reset, 30 s without an
 * answer): the call may then have been carried out or not (see isAgentUnreachable).
 * Any other failure is the agent's VxnetError, passed through.
 */
export interface AgentApi {
  /**
   * Attach a sandbox to a network (POST /v1/endpoints). Not idempotent: each call
   * makes an endpoint. The agent records the endpoint before it answers, so a call
   * that failed as unreachable may have left one behind.
   */
  createEndpoint(req: CreateEndpointRequest): Promise<AgentEndpoint>;
  /** Detach (DELETE /v1/endpoints/:id). Idempotent: an unknown endpoint is success. */
  deleteEndpoint(id: string): Promise<void>;
  /** Every endpoint of this host, of every owner (GET /v1/endpoints). */
  listEndpoints(): Promise<AgentEndpoint[]>;
  /** GET /v1/status; `instance` changes when the agent restarts. */
  status(): Promise<AgentStatus>;
  /** Give this host an address on `network` (POST /v1/networks/:network/expose). Idempotent: the same address again. */
  expose(network: string): Promise<ExposeResult>;
  /** Take it back (DELETE /v1/networks/:network/expose); the agent answers 404 when the network is not exposed here. */
  unexpose(network: string): Promise<ExposeResult>;
}

/** True when an agent call failed without an answer: its effect is unknown. */
export function isAgentUnreachable(err: unknown): boolean {
  return err instanceof VxnetError && err.code === AgentUnreachable.code;
}

export class AgentClient implements AgentApi {
  private readonly http = new HttpAgent({ keepAlive: true, maxSockets: 8 });

  constructor(readonly socketPath: string) {}

  createEndpoint(req: CreateEndpointRequest): Promise<AgentEndpoint> {
    return this.call<AgentEndpoint>('POST', '/v1/endpoints', req);
  }

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

  status(): Promise<AgentStatus> {
    return this.call<AgentStatus>('GET', '/v1/status');
  }

  expose(network: string): Promise<ExposeResult> {
    return this.call<ExposeResult>('POST', `/v1/networks/${encodeURIComponent(network)}/expose`);
  }

  unexpose(network: string): Promise<ExposeResult> {
    return this.call<ExposeResult>('DELETE', `/v1/networks/${encodeURIComponent(network)}/expose`);
  }

  close(): void {
    this.http.destroy();
  }

  private call<T>(method: string, path: string, body?: unknown): Promise<T> {
    // a timeout destroys the request: it ends up here as unreachable too (callJson)
    return callJson<T>({ socketPath: this.socketPath, agent: this.http }, method, path, body, {
      timeoutMs: 30_000,
      who: 'the agent',
      unreachable: (err) => new AgentUnreachable(this.socketPath, err.message, err),
    });
  }
}
