/**
 * vxnet-agent: the composition root. Config -> logger -> store -> lease manager,
 * registration, data plane -> agent -> local API on a unix socket -> Docker plugin
 * on its socket (dockerPluginSocket) and dockerd's events (dockerSocket). SIGTERM/SIGINT:
 * stop cleanly (liveness lease revoked, kernel state left in place so traffic flows
 * through an agent restart).
 */
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createRtNetlink } from 'netlink';
import { VXNET_NETNS_PREFIX, createLogger, daemonConfig, isUserError, keys, openStore } from '@vxnet/common';
import { daemonMetrics, listenMetrics } from '@vxnet/common/metrics';
import { Agent } from './agent.js';
import { buildApi } from './api/server.js';
import { AGENT_CONFIG } from './config.js';
import { DockerApi } from './docker/docker-api.js';
import { DockerDriver } from './docker/docker-driver.js';
import { DockerNames } from './docker/docker-names.js';
import { buildPluginServer, listenPluginSocket } from './docker/plugin-server.js';
import { NetlinkDataPlane } from './dataplane/index.js';
import { DnsService } from './dns/dns-service.js';
import { Firewall, NftCli, procForwarding } from './firewall/index.js';
import { parseUpstream, type Upstream } from './dns/upstreams.js';
import { LeaseManager } from './lease/lease-manager.js';
import { AgentMetrics } from './metrics/agent-metrics.js';
import { agentMetricsSource } from './metrics/agent-metrics-source.js';
import { HostRegistration } from './registration/host-registration.js';
import { readHostRoutes } from './registration/host-routes.js';
import { WireGuard, claimTunnelAddress, loadOrCreateKey } from './wireguard/index.js';

const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

/** MTU of the underlay link, read through netlink in this namespace (/sys would show the root namespace's). */
async function linkMtu(ifname: string): Promise<number> {
  const rt = createRtNetlink();
  try {
    const link = (await rt.getLinks()).find((l) => l.attrs.ifname === ifname);
    if (!link?.attrs.mtu) throw new Error(`underlay interface ${ifname} not found`);
    return link.attrs.mtu;
  } finally {
    rt.socket.close();
  }
}

async function main(): Promise<void> {
  const cfg = daemonConfig('agent', AGENT_CONFIG, process.argv.slice(2));
  if (cfg === undefined) return; // --help or --print-config: printed
  const upstreams = cfg.dnsUpstreams.map((u) => parseUpstream(u) as Upstream); // validated by the schema
  const log = createLogger({ name: 'vxnet-agent', level: cfg.logLevel, ...(cfg.logFile ? { file: cfg.logFile } : {}) }).child({ host: cfg.host });
  const store = await openStore(cfg, log);
  const k = keys(cfg.storePrefix);
  const leases = new LeaseManager({
    store, keys: k, host: cfg.host, underlayIp: cfg.underlayIp, ttlSeconds: cfg.subnetLeaseTtl, renewMarginSeconds: cfg.renewMargin,
    stateFile: join(cfg.stateDir, 'subnets.json'), log: log.child({ component: 'leases' }),
  });
  // Encryption (issue 13): the key pair first (made once, 0600; an unreadable key file
  // stops the agent here, before anything changed), then the device. No WireGuard on
  // this host: the agent runs and refuses encrypted networks.
  mkdirSync(cfg.stateDir, { recursive: true, mode: 0o700 });
  const keyFile = join(cfg.stateDir, 'wireguard.key');
  const { key, created } = loadOrCreateKey(keyFile);
  const wlog = log.child({ component: 'wireguard' });
  if (created) wlog.info({ file: keyFile, publicKey: key.publicKey() }, 'WireGuard key pair made');
  const underlayMtu = await linkMtu(cfg.underlayInterface);
  const encryption = await WireGuard.start({
    device: cfg.wireguardInterface, privateKey: key, tunnelIp: () => claimTunnelAddress(store, k, cfg.host, cfg.wireguardPool), pool: cfg.wireguardPool,
    underlayMtu, stateDir: cfg.stateDir, log: wlog,
  });
  if (!encryption.status.available) wlog.warn({ reason: encryption.status.reason }, 'encryption unavailable: encrypted networks are refused on this host');
  const enc = encryption.status;
  const registration = new HostRegistration({
    store, keys: k, host: cfg.host, underlayIp: cfg.underlayIp, underlayInterface: cfg.underlayInterface, agentVersion: version,
    ttlSeconds: cfg.livenessTtl, readRoutes: () => readHostRoutes(), log: log.child({ component: 'registration' }),
    ...(enc.available ? { wireguard: { publicKey: enc.publicKey, tunnelIp: enc.tunnelIp, port: enc.port, backend: enc.backend } } : {}),
  });
  const metrics = daemonMetrics('agent', version);
  const dns = new DnsService({ upstreams, threads: cfg.dnsThreads, log: log.child({ component: 'dns' }) });
  // the source reads the agent, made next: nothing is read before the first scrape
  let agentRef: Agent | undefined;
  const agentMetrics = new AgentMetrics(metrics, agentMetricsSource({ agent: () => agentRef, leases, dns, store, probeKey: k.allocations }));
  const agent = new Agent({
    store, keys: k, host: cfg.host, underlayIp: cfg.underlayIp, underlayDevice: cfg.underlayInterface, underlayMtu,
    netnsPrefix: VXNET_NETNS_PREFIX, endpointsFile: join(cfg.stateDir, 'endpoints.json'), namespacesFile: join(cfg.stateDir, 'namespaces.json'),
    uplinksFile: join(cfg.stateDir, 'uplinks.json'), exposedFile: join(cfg.stateDir, 'exposed.json'), reservedFile: join(cfg.stateDir, 'reserved.json'),
    dataplane: new NetlinkDataPlane({ log: log.child({ component: 'dataplane' }) }),
    leases, registration, encryption, log: log.child({ component: 'agent' }),
    dns, metrics: agentMetrics,
    // nft and /proc/sys act on this process's namespace: the host's
    firewall: new Firewall({ nft: new NftCli(), forwarding: procForwarding(), log: log.child({ component: 'firewall' }) }),
  });
  // read before the agent starts: an unreadable docker.json stops it before it changes anything
  const dlog = log.child({ component: 'docker' });
  const driver = cfg.dockerPluginSocket === null ? undefined : new DockerDriver({ agent, stateFile: join(cfg.stateDir, 'docker.json'), host: cfg.host, log: dlog });
  driver?.load();
  agentRef = agent;
  await agent.start();

  const api = buildApi(agent, leases, cfg.host, log, metrics);
  mkdirSync(dirname(cfg.socket), { recursive: true });
  rmSync(cfg.socket, { force: true });
  await api.listen({ path: cfg.socket });
  const metricsServer = cfg.metricsAddr === null ? undefined : await listenMetrics(cfg.metricsAddr, metrics, log.child({ component: 'metrics' }));

  // Docker: the plugin needs the started agent; dockerd's events only matter with the plugin
  let docker: { close: () => Promise<void>; names?: DockerNames } | undefined;
  if (driver && cfg.dockerPluginSocket !== null) {
    await driver.start();
    try {
      docker = { close: await listenPluginSocket(buildPluginServer({ driver, host: cfg.host, log: dlog }), cfg.dockerPluginSocket) };
      dlog.info({ socket: cfg.dockerPluginSocket }, 'Docker plugin "vxnet" serving');
      if (cfg.dockerSocket !== null) {
        docker.names = new DockerNames({ api: new DockerApi(cfg.dockerSocket), driver, log: dlog });
        docker.names.start();
      }
    } catch (err) {
      dlog.error({ err, socket: cfg.dockerPluginSocket }, 'Docker plugin not served');
    }
  }

  const renew = setInterval(() => void leases.renewDue().then((n) => agentMetrics.leaseRenewal('ok', n), (err: unknown) => {
    agentMetrics.leaseRenewal('error');
    log.warn({ err }, 'subnet lease renewal failed; retrying');
  }), Math.min(60_000, (cfg.renewMargin * 1000) / 4));
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'agent stopping');
    clearInterval(renew);
    await docker?.names?.stop();
    await docker?.close();
    await driver?.stop();
    metricsServer?.close();
    await api.close();
    await agent.stop();
    await store.close();
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
  log.info({ socket: cfg.socket, metricsAddr: cfg.metricsAddr, underlay: { ip: cfg.underlayIp, interface: cfg.underlayInterface } }, 'agent serving');
}

main().catch((err: unknown) => {
  process.stderr.write(`vxnet-agent: ${isUserError(err) ? err.message : (err as Error)?.stack ?? String(err)}\n`);
  process.exit(1);
});
