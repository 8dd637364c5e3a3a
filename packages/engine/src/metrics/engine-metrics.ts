/**
 * The engine's Prometheus series (`vxnet_engine_…`), on the registry of
 * `@vxnet/common/metrics`: containers by state, computed at scrape time from the
 * engine's records (they cannot drift), and the time `run` takes from request to a
 * running container, observed where it happens. No container id or name is a label.
 */
import { Counter, Gauge, Histogram, type DaemonMetrics } from '@vxnet/common/metrics';
import type { ContainerStatus } from '../state/container-record.js';

/** Where the engine reports runs; cheap, never throws. */
export interface EngineMetricsSink {
  /** A run ended with a running container after `seconds`. */
  containerStarted(seconds: number): void;
  /** A run failed (and was rolled back). */
  containerStartFailed(): void;
}

export const NO_ENGINE_METRICS: EngineMetricsSink = { containerStarted: () => undefined, containerStartFailed: () => undefined };

export class EngineMetrics implements EngineMetricsSink {
  private readonly start: Histogram;
  private readonly failures: Counter;

  /** `states` is read at every scrape: containers by status, runs in progress counted as creating. */
  constructor(m: DaemonMetrics, states: () => Record<ContainerStatus, number>) {
    const registers = [m.registry];
    this.start = new Histogram({
      name: `${m.prefix}container_start_seconds`, help: 'Time from a run request to a running container (sandbox, endpoints, bundle, runc)',
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30], registers,
    });
    this.failures = new Counter({ name: `${m.prefix}container_start_failures_total`, help: 'Runs that failed and were rolled back', registers });
    new Gauge({
      name: `${m.prefix}containers`, help: 'Containers on this host, by state', labelNames: ['state'], registers,
      collect() {
        for (const [state, n] of Object.entries(states())) this.set({ state }, n);
      },
    });
  }

  containerStarted(seconds: number): void {
    this.start.observe(seconds);
  }

  containerStartFailed(): void {
    this.failures.inc();
  }
}
