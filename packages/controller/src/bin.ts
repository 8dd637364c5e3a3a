/**
 * vxnet-controller: the composition root. Config -> logger -> store -> migration of
 * the old allocations document -> one app per listener -> listen on a unix socket (the local CLI) and/or TCP (remote CLIs).
 *
 * Why one app per listener: whether a request must carry the token depends on the
 * door it came through, not on anything in the request. The unix socket is root-only
 * (mode 0600, like dockerd's), so it needs no token; the TCP listener requires the
 * bearer token unless the operator started it with --insecure. The apps share the
 * store and nothing else (the controller keeps no state in memory).
 *
 * TCP is HTTPS (tlsCert, tlsKey; tlsClientCa asks for client certificates) unless the
 * operator said plaintext: the config refuses a TCP listener with neither.
 */
import { chmodSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  StoreUnavailable, certificateProblem, createLogger, daemonConfig, isUserError, keys, openStore, parseCidr, readPem,
  type Keys, type Logger, type Store,
} from '@vxnet/common';
import { daemonMetrics } from '@vxnet/common/metrics';
import { build, type AppOptions } from './app.js';
import { buildUi } from './ui-app.js';
import { CONTROLLER_CONFIG, type ControllerConfig } from './config.js';
import { TlsFileInvalid } from './errors.js';
import { controllerMetrics } from './metrics/controller-metrics.js';
import { migrateAllocations } from './network/migrate-allocations.js';
import { loadOrCreateToken } from './token-file.js';

const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

async function main(): Promise<void> {
  const cfg = daemonConfig('controller', CONTROLLER_CONFIG, process.argv.slice(2));
  if (cfg === undefined) return; // --help or --print-config: printed
  const log = createLogger({ name: 'vxnet-controller', level: cfg.logLevel, ...(cfg.logFile ? { file: cfg.logFile } : {}) });
  // before anything listens: a bad token file stops the start
  let token: string | undefined;
  if ((cfg.listen || cfg.uiListen) && !cfg.insecure) {
    const loaded = loadOrCreateToken(cfg.tokenFile);
    token = loaded.token;
    if (loaded.created) log.info({ tokenFile: cfg.tokenFile }, 'generated the token of the TCP listener');
    if (loaded.mode & 0o077) log.warn({ tokenFile: cfg.tokenFile, mode: loaded.mode.toString(8) }, 'the token file is readable by other users than its owner (chmod 600 it)');
  }
  const tls = listenerTls(cfg);
  const store = await openStore(cfg, log.child({ component: 'store' }));
  const k = keys(cfg.storePrefix);
  await migrateUntilDone(store, k, log.child({ component: 'migrate' }));
  const metrics = daemonMetrics('controller', version);
  controllerMetrics(metrics, store, k, cfg.defaultPool);
  const shared: Omit<AppOptions, 'logger'> = {
    store,
    keys: k,
    metrics,
    pool: {
      defaultPool: cfg.defaultPool,
      defaultBlockLength: cfg.defaultBlockLength,
      excluded: [
        ...cfg.underlay.map((c) => ({ cidr: parseCidr(c).text, reason: 'the underlay' })),
        ...cfg.excluded.map((c) => ({ cidr: parseCidr(c).text, reason: 'an excluded range' })),
      ],
    },
  };

  const apps: FastifyInstance[] = [];
  if (cfg.socket) {
    mkdirSync(dirname(cfg.socket), { recursive: true });
    const local = await build({ ...shared, logger: log.child({ listener: 'socket' }) });
    apps.push(local);
    rmSync(cfg.socket, { force: true });
    // root-only from its creation (umask), not from a chmod after: this door has no token
    const umask = process.umask(0o177);
    try {
      await local.listen({ path: cfg.socket });
    } finally {
      process.umask(umask);
    }
    chmodSync(cfg.socket, 0o600);
  }
  if (cfg.listen) {
    const remote = await build({ ...shared, logger: log.child({ listener: 'tcp' }), ...(token !== undefined ? { token } : {}), ...(tls ? { tls } : {}) });
    apps.push(remote);
    // a refused handshake never reaches a route (nor fastify's log): log it, once per connection
    remote.server.on('tlsClientError', (err: Error & { code?: string }, socket: { remoteAddress?: string }) => {
      log.warn({ listener: 'tcp', client: socket.remoteAddress, err: { code: err.code, message: err.message } }, 'TLS handshake refused');
    });
    const i = cfg.listen.lastIndexOf(':');
    await remote.listen({ host: cfg.listen.slice(0, i), port: Number(cfg.listen.slice(i + 1)) });
    if (cfg.insecure) log.warn({ listen: cfg.listen }, 'TCP listener without a token (--insecure): anyone who reaches it can change the cluster');
    if (cfg.plaintext) log.warn({ listen: cfg.listen }, 'TCP listener in plain HTTP (--plaintext): the token and every request cross the network readable');
  }
  if (cfg.uiListen) {
    const ui = await buildUi({
      store: shared.store, keys: shared.keys, logger: log.child({ listener: 'ui' }),
      ...(token !== undefined ? { token } : {}), ...(tls ? { tls: { cert: tls.cert, key: tls.key } } : {}),
    });
    apps.push(ui);
    const i = cfg.uiListen.lastIndexOf(':');
    await ui.listen({ host: cfg.uiListen.slice(0, i), port: Number(cfg.uiListen.slice(i + 1)) });
  }
  log.info({ socket: cfg.socket, listen: cfg.listen, uiListen: cfg.uiListen, store: cfg.store, tcpAuth: cfg.listen ? !cfg.insecure : null, tcpTls: cfg.listen ? (tls ? (tls.clientCa ? 'mutual' : 'server') : 'none') : null }, 'controller serving');

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'controller stopping');
    for (const app of apps) await app.close();
    await store.close();
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}

/**
 * Migrate the pre-1.x allocations document before serving (network/migrate-allocations.ts).
 * A store that does not answer yet (started at the same time) is waited for, with
 * backoff; an unreadable document stops the start.
 */
async function migrateUntilDone(store: Store, k: Keys, log: Logger): Promise<void> {
  for (let delay = 200; ; delay = Math.min(delay * 2, 5000)) {
    try {
      await migrateAllocations(store, k, log);
      return;
    } catch (err) {
      if (!(err instanceof StoreUnavailable)) throw err;
      log.warn({ err, retryInMs: delay }, 'store unavailable: cannot check for an allocations document to migrate yet');
      await sleep(delay);
    }
  }
}

/** The TCP listener's PEM files, read and checked before anything listens; undefined without TLS. */
function listenerTls(cfg: Readonly<ControllerConfig>): { cert: string; key: string; clientCa?: string } | undefined {
  if ((cfg.listen === null && cfg.uiListen === null) || cfg.tlsCert === null || cfg.tlsKey === null) return undefined;
  const read = (key: string, path: string) => readPem(path, (why, err) => new TlsFileInvalid(`${key} ${path} ${why}`, err));
  const cert = read('tlsCert', cfg.tlsCert);
  const why = certificateProblem(`tlsCert ${cfg.tlsCert}`, cert);
  if (why !== undefined) throw new TlsFileInvalid(why);
  return { cert, key: read('tlsKey', cfg.tlsKey), ...(cfg.tlsClientCa !== null ? { clientCa: read('tlsClientCa', cfg.tlsClientCa) } : {}) };
}

main().catch((err: unknown) => {
  process.stderr.write(`vxnet-controller: ${isUserError(err) ? err.message : (err as Error)?.stack ?? String(err)}\n`);
  process.exit(1);
});
