/**
 * vxnet-engine: the composition root. Config -> logger -> images, runc, agent client,
 * sandboxes -> engine (re-reads its containers) -> API on a unix socket.
 *
 * SIGTERM/SIGINT: stop serving; containers keep running (their shims outlive the
 * engine, and the next engine adopts them).
 */
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { VXNET_NETNS_PREFIX, createLogger, daemonConfig, isUserError } from '@vxnet/common';
import { daemonMetrics, listenMetrics } from '@vxnet/common/metrics';
import { native } from '@vxnet/netns';
import { AgentClient } from './agent-client.js';
import { buildApi } from './api/server.js';
import { ENGINE_CONFIG } from './config.js';
import { Engine } from './engine.js';
import { ImageStore } from './image/images.js';
import { EngineMetrics } from './metrics/engine-metrics.js';
import { Runc } from './runtime/runc.js';
import { Sandboxes } from './sandbox/sandbox.js';

const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

async function main(): Promise<void> {
  const cfg = daemonConfig('engine', ENGINE_CONFIG, process.argv.slice(2));
  if (cfg === undefined) return; // --help or --print-config: printed
  // Processes on a terminal (exec -t, run -t) are started detached by runc (a console
  // socket requires it): they are reparented to the nearest subreaper, which must be
  // us to reap them for their exit codes (exec/reap.ts). Nothing else is expected to
  // be orphaned to us (every shim and foreground runc waits for its child); anything
  // that is stays a zombie until the engine exits.
  native().setChildSubreaper();
  const log = createLogger({ name: 'vxnet-engine', level: cfg.logLevel, ...(cfg.logFile ? { file: cfg.logFile } : {}) }).child({ host: cfg.host });
  mkdirSync(join(cfg.stateDir, 'containers'), { recursive: true });
  const images = new ImageStore({ dir: cfg.imagesDir, busybox: cfg.busybox, log: log.child({ component: 'images' }) });
  images.ensureBusybox();
  images.loaded.open();
  const agent = new AgentClient(cfg.agentSocket);
  const metrics = daemonMetrics('engine', version);
  let engineRef: Engine | undefined;
  const engineMetrics = new EngineMetrics(metrics, () => engineRef?.stateCounts() ?? { creating: 0, running: 0, exited: 0 });
  const engine = new Engine({
    host: cfg.host, stateDir: cfg.stateDir, agent, images, sandboxes: new Sandboxes(VXNET_NETNS_PREFIX),
    runc: new Runc({ binary: cfg.runc, root: join(cfg.stateDir, 'runc'), log: log.child({ component: 'runc' }) }),
    log: log.child({ component: 'engine' }), metrics: engineMetrics,
    registries: { insecure: cfg.insecureRegistries.split(',').filter(Boolean), caFile: cfg.registryCaFile },
  });
  engineRef = engine;
  await engine.load();

  const api = buildApi(engine, cfg.host, log, metrics);
  mkdirSync(dirname(cfg.socket), { recursive: true });
  rmSync(cfg.socket, { force: true });
  await api.listen({ path: cfg.socket });
  const metricsServer = cfg.metricsAddr === null ? undefined : await listenMetrics(cfg.metricsAddr, metrics, log.child({ component: 'metrics' }));

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'engine stopping');
    metricsServer?.close();
    await api.close();
    engine.close();
    agent.close();
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
  log.info({ socket: cfg.socket, agentSocket: cfg.agentSocket, stateDir: cfg.stateDir }, 'engine serving');
}

main().catch((err: unknown) => {
  process.stderr.write(`vxnet-engine: ${isUserError(err) ? err.message : (err as Error)?.stack ?? String(err)}\n`);
  process.exit(1);
});
