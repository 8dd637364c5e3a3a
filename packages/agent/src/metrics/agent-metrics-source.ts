/**
 * The scrape's view of a running agent (AgentMetricsSource), read from the Agent, its
 * lease manager, its DNS and its store at scrape time. Kept apart from the metric
 * definitions so that tests can give AgentMetrics a source of their own.
 */
import type { Store } from '@vxnet/common';
import type { Agent } from '../agent.js';
import type { DnsStats } from '../dns/dns-service.js';
import type { LeaseManager } from '../lease/lease-manager.js';
import type { AgentMetricsSource } from './agent-metrics.js';

/** A store read slower than this counts as the store being down for the scrape. */
const STORE_PROBE_TIMEOUT_MS = 1000;

export interface SourceParts {
  /** The agent once made (undefined before: the scrape then sees no networks). */
  agent: () => Pick<Agent, 'networkCounts' | 'networks' | 'alive' | 'endpointRecords'> | undefined;
  leases: Pick<LeaseManager, 'all'>;
  dns: DnsStats | undefined;
  store: Pick<Store, 'get'>;
  /** A small key the store probe reads (its value is not used). */
  probeKey: string;
}

export function agentMetricsSource(p: SourceParts): AgentMetricsSource {
  /** A network's label value: its name; its id's first 12 characters while the name is not known yet. */
  const name = (id: string) => p.agent()?.networks.get(id)?.name ?? id.slice(0, 12);
  return {
    networks: () => (p.agent()?.networkCounts() ?? []).map((n) => ({ network: name(n.networkId), peers: n.peers, endpoints: n.endpoints })),
    hostsAlive: () => p.agent()?.alive.size ?? 0,
    leases: () => p.leases.all().map((l) => ({ network: name(l.networkId), expiresAtMs: Date.parse(l.expiresAt) })),
    dnsRecords: () => p.agent()?.endpointRecords ?? 0,
    dnsQueries: async () => (await p.dns?.queryCounts()) ?? [],
    dnsUpstreamFailures: () => p.dns?.upstreamFailures ?? 0,
    storeUp: async () => {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), STORE_PROBE_TIMEOUT_MS);
      });
      try {
        return await Promise.race([p.store.get(p.probeKey).then(() => true, () => false), timeout]);
      } finally {
        clearTimeout(timer);
      }
    },
  };
}
