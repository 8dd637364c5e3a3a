/** The agent's building blocks, for tests and benchmarks; the daemon itself is main.ts. */
export { Agent, type AgentOptions } from './agent.js';
export { LeaseManager, type LeaseManagerOptions } from './lease/lease-manager.js';
export { HostRegistration } from './registration/host-registration.js';
export * from './dataplane/index.js';
export { macForIp, nextFree, addressProblem } from './ipam/ipam.js';
export * from './dns/index.js';
export * from './firewall/index.js';
export { localPortProbe, netnsPortProbe, type BindTarget, type PortProbe } from './ports/port-probe.js';
export { buildApi } from './api/server.js';
export { AgentMetrics, type AgentMetricsSink, type AgentMetricsSource } from './metrics/agent-metrics.js';
export { agentMetricsSource } from './metrics/agent-metrics-source.js';
