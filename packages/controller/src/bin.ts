/**
 * vxnet-controller: the composition root. Config -> logger -> store -> app -> listen
 * on a unix socket (local CLI) and/or TCP (remote CLIs, agents).
 */
import { createServer } from 'node:http';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { createLogger, daemonConfig, isUserError, keys, parseCidr } from '@vxnet/common';
import { EtcdStore } from '@vxnet/common/etcd';
import { build } from './app.js';
import { CONTROLLER_CONFIG } from './config.js';

async function main(): Promise<void> {
  const cfg = daemonConfig('controller', CONTROLLER_CONFIG, process.argv.slice(2));
  if (cfg === undefined) return; // --help or --print-config: printed
  const log = createLogger({ name: 'vxnet-controller', level: cfg.logLevel, ...(cfg.logFile ? { file: cfg.logFile } : {}) });
  const store = new EtcdStore({ endpoints: cfg.storeEndpoints, logger: log.child({ component: 'store' }) });
  // Until the controller makes its token at first start (issue 8), a token file that
  // does not exist means no token, as an unset tokenFile did before it had a default.
  const token = existsSync(cfg.tokenFile) ? readFileSync(cfg.tokenFile, 'utf8').trim() : undefined;
  const app = await build({
    store,
    keys: keys(cfg.storePrefix),
    pool: {
      defaultPool: cfg.defaultPool,
      defaultBlockLength: cfg.defaultBlockLength,
      excluded: [
        ...cfg.underlay.map((c) => ({ cidr: parseCidr(c).text, reason: 'the underlay' })),
        ...cfg.excluded.map((c) => ({ cidr: parseCidr(c).text, reason: 'an excluded range' })),
      ],
    },
    logger: log,
    ...(token !== undefined ? { token } : {}),
  });

  // One fastify instance serves both: fastify listens on one, a plain server forwards the other.
  const servers: Array<() => Promise<void>> = [];
  if (cfg.socket) {
    mkdirSync(dirname(cfg.socket), { recursive: true });
    rmSync(cfg.socket, { force: true });
    await app.listen({ path: cfg.socket });
    if (cfg.listen) {
      const [host, port] = [cfg.listen.slice(0, cfg.listen.lastIndexOf(':')), Number(cfg.listen.slice(cfg.listen.lastIndexOf(':') + 1))];
      const tcp = createServer((req, res) => app.server.emit('request', req, res));
      await new Promise<void>((resolve, reject) => tcp.once('error', reject).listen(port, host, resolve));
      servers.push(() => new Promise((resolve) => tcp.close(() => resolve())));
    }
  } else if (cfg.listen) {
    const i = cfg.listen.lastIndexOf(':');
    await app.listen({ host: cfg.listen.slice(0, i), port: Number(cfg.listen.slice(i + 1)) });
  }
  log.info({ socket: cfg.socket, listen: cfg.listen, store: cfg.storeEndpoints, auth: token !== undefined }, 'controller serving');

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'controller stopping');
    for (const close of servers) await close();
    await app.close();
    await store.close();
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}

main().catch((err: unknown) => {
  process.stderr.write(`vxnet-controller: ${isUserError(err) ? err.message : (err as Error)?.stack ?? String(err)}\n`);
  process.exit(1);
});
