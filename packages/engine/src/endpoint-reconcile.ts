/**
 * Endpoint reconcile: the engine's half of crash consistency (issue 8, section 6).
 *
 * The agent records an endpoint before it answers, so a create that failed without
 * an answer (agent killed, restarted or stuck mid-call) may have left an endpoint
 * that no container of this engine knows; so may an engine that died between the
 * agent's answer and its own record. Such a ghost keeps its name resolving on every
 * host, blocks the name, and makes `net rm` refuse (moby#17217 by another road).
 * The reconciler compares the agent's endpoints with the engine's records and
 * removes the ghosts it owns:
 *
 *   - at start, once the agent answers;
 *   - when the agent's `instance` changes (it restarted; GET /v1/status every second);
 *   - after any agent call of the engine failed without an answer, once the agent
 *     answers again;
 *   - and every minute, for an endpoint an agent finished after its caller gave up.
 *
 * Ownership is what the engine recorded asking for: `owner: "engine"` on the
 * endpoint, or, on endpoints made before owners existed, a container id of 64 hex
 * digits (only this engine makes those). Endpoints of other owners (CNI, …) are never
 * touched. An endpoint whose container has a run, connect, disconnect or rm in
 * flight is left for the next pass. A record that lists an endpoint the agent no
 * longer has is logged, not repaired: recreating it behind the user's back would
 * give the container a new address.
 */
import type { Logger } from '@vxnet/common';
import { isAgentUnreachable, type AgentApi, type AgentEndpoint } from './agent-client.js';
import type { ContainerEndpoint, ContainerRecord } from './state/container-record.js';

/** `owner` of the endpoints this engine asks the agent for. */
export const ENGINE_OWNER = 'engine';

/** True for endpoints this engine made (see the ownership rule above). */
export function ownedByEngine(ep: Pick<AgentEndpoint, 'owner' | 'container'>): boolean {
  return ep.owner === ENGINE_OWNER || (ep.owner === undefined && /^[0-9a-f]{64}$/.test(ep.container));
}

export interface ReconcilePlan {
  /** Engine-owned endpoints no record explains: to delete. */
  orphans: Array<{ endpoint: AgentEndpoint; reason: 'unknown container' | 'not in its container record' }>;
  /** Endpoints a record lists that the agent does not have: to report. */
  missing: Array<{ container: ContainerRecord; endpoint: ContainerEndpoint }>;
  /** Engine-owned endpoints of containers with work in flight: for the next pass. */
  deferred: AgentEndpoint[];
}

/**
 * The decision, pure: `endpoints` as the agent lists them, `containers` the engine's
 * records by id, `inFlight` the ids with a run, connect, disconnect or rm under way.
 */
export function planReconcile(
  endpoints: readonly AgentEndpoint[], containers: ReadonlyMap<string, ContainerRecord>, inFlight: ReadonlySet<string>,
): ReconcilePlan {
  const plan: ReconcilePlan = { orphans: [], missing: [], deferred: [] };
  for (const endpoint of endpoints) {
    if (!ownedByEngine(endpoint)) continue;
    if (inFlight.has(endpoint.container)) {
      plan.deferred.push(endpoint);
      continue;
    }
    const rec = containers.get(endpoint.container);
    if (!rec) plan.orphans.push({ endpoint, reason: 'unknown container' });
    // a connect that failed (or an engine that died) after the agent made the endpoint; or
    // one released at stop (its ports withdrawn) whose delete got no answer
    else if (!rec.endpoints.some((e) => e.endpointId === endpoint.id && !e.released)) plan.orphans.push({ endpoint, reason: 'not in its container record' });
  }
  const present = new Set(endpoints.map((e) => e.id));
  for (const container of containers.values()) {
    if (inFlight.has(container.id)) continue;
    for (const endpoint of container.endpoints) if (!endpoint.released && !present.has(endpoint.endpointId)) plan.missing.push({ container, endpoint });
  }
  return plan;
}

export interface EndpointReconcilerOptions {
  agent: AgentApi;
  /** The engine's container records by id, as they are now. */
  containers: () => ReadonlyMap<string, ContainerRecord>;
  /** Ids of containers with a run, connect, disconnect or rm in flight. */
  inFlight: () => ReadonlySet<string>;
  log: Logger;
  /** Period of the agent status poll, ms. Default 1000. */
  pollMs?: number;
  /** A pass at least this often even when nothing asked for one, ms. Default 60 000. */
  fullPassMs?: number;
}

export class EndpointReconciler {
  /** A pass is owed: set at start, on an agent restart, after a call without answer, and while work is deferred. */
  private pending = true;
  private instance: string | undefined;
  private lastPass = 0;
  private agentDown = false;
  private timer: NodeJS.Timeout | undefined;
  private polling: Promise<void> | undefined;
  /** Endpoint ids already reported missing (report each once per engine process). */
  private readonly reported = new Set<string>();

  constructor(private readonly o: EndpointReconcilerOptions) {}

  /** Poll now and then every `pollMs`. */
  start(): void {
    this.timer = setInterval(() => void this.tick(), this.o.pollMs ?? 1000);
    this.timer.unref();
    void this.tick();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** An agent call failed without an answer: reconcile once the agent answers again. */
  agentUnreachable(): void {
    this.pending = true;
  }

  /**
   * One poll: the agent's status, then a pass if one is owed, the agent restarted, or
   * the last pass is older than `fullPassMs`. Never throws; a poll already under way
   * is joined, not doubled.
   */
  tick(): Promise<void> {
    this.polling ??= this.poll().finally(() => {
      this.polling = undefined;
    });
    return this.polling;
  }

  private async poll(): Promise<void> {
    let instance: string;
    try {
      ({ instance } = await this.o.agent.status());
    } catch (err) {
      this.pending = true;
      if (!this.agentDown) this.o.log.warn({ err }, 'agent not answering; its endpoints are reconciled when it is back');
      this.agentDown = true;
      return;
    }
    if (this.agentDown) this.o.log.info('agent answering again');
    this.agentDown = false;
    if (instance !== this.instance) {
      if (this.instance !== undefined) this.o.log.info({ instance, previous: this.instance }, 'agent restarted');
      this.instance = instance;
      this.pending = true;
    }
    if (!this.pending && Date.now() - this.lastPass < (this.o.fullPassMs ?? 60_000)) return;
    await this.pass();
  }

  private async pass(): Promise<void> {
    // cleared before listing: a failure noticed while this pass runs asks for another
    this.pending = false;
    this.lastPass = Date.now();
    let plan: ReconcilePlan;
    try {
      plan = planReconcile(await this.o.agent.listEndpoints(), this.o.containers(), this.o.inFlight());
    } catch (err) {
      this.pending = true;
      this.o.log.warn({ err }, 'could not list the agent endpoints; reconcile retried');
      return;
    }
    for (const { container, endpoint } of plan.missing) {
      if (this.reported.has(endpoint.endpointId)) continue;
      this.reported.add(endpoint.endpointId);
      this.o.log.warn({ container: { id: container.id.slice(0, 12), name: container.name }, endpoint: { id: endpoint.endpointId, network: endpoint.network, ip: endpoint.ip } },
        'the agent no longer has an endpoint this container records (not recreated: disconnect and connect the network again)');
    }
    for (const { endpoint, reason } of plan.orphans) {
      const about = { endpoint: { id: endpoint.id, name: endpoint.name, network: endpoint.networkName, ip: endpoint.ip, container: endpoint.container.slice(0, 12) }, reason };
      try {
        await this.o.agent.deleteEndpoint(endpoint.id);
        this.o.log.warn(about, 'removed an endpoint that no container of this engine explains');
      } catch (err) {
        this.o.log.error({ ...about, err }, 'could not remove an orphan endpoint');
        if (isAgentUnreachable(err)) {
          this.pending = true;
          return;
        }
      }
    }
    if (plan.deferred.length > 0) this.pending = true;
  }
}
