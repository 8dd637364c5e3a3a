/**
 * Open the store a daemon's settings name. The etcd and Redis clients are loaded only
 * when chosen (`@vxnet/common/etcd` pulls in gRPC, `@vxnet/common/redis` ioredis), so
 * a daemon never pays for the store it does not use.
 */
import { readFileSync } from 'node:fs';
import type { Logger } from 'pino';
import { ConfigInvalid, StoreTlsRefused } from '../errors.js';
import { certificateProblem, probeTls, sharpenRefusal } from '../tls.js';
import type { Store } from './store.js';
import { parseStoreUrl } from './store-url.js';

/** The store settings every daemon that talks to the store has (see STORE_CONFIG). */
export interface StoreSettings {
  /** etcd://…, etcds://…, redis://…, rediss://… (store-url.ts). */
  store: string;
  /** PEM file of the CA that signed the store's server certificate (TLS schemes). */
  storeCa: string | null;
  /** PEM client certificate, with storeKey (TLS schemes). */
  storeCert: string | null;
  storeKey: string | null;
  /** The store user: an etcd user (needed with a password), or a Redis ACL user (default: Redis's default user). */
  storeUser: string | null;
  /** File holding the store user's password (etcd auth, Redis AUTH). */
  storePasswordFile: string | null;
}

/** Connect to the store named by `settings`. Unreadable certificate or password files are refused, never taken as empty. */
export async function openStore(settings: StoreSettings, logger?: Logger): Promise<Store> {
  const target = parseStoreUrl(settings.store);
  const tls = {
    ...(settings.storeCa !== null ? { ca: readSecret('storeCa', settings.storeCa) } : {}),
    ...(settings.storeCert !== null ? { cert: readSecret('storeCert', settings.storeCert) } : {}),
    ...(settings.storeKey !== null ? { key: readSecret('storeKey', settings.storeKey) } : {}),
  };
  // an expired client certificate would be refused by the server with a bare "bad
  // certificate" (or, for a TLS 1.3 server, only at the first request): say it here
  if (tls.cert !== undefined) {
    const why = certificateProblem(`storeCert ${settings.storeCert}`, tls.cert);
    if (why !== undefined) throw new ConfigInvalid('store', why);
  }
  if (target.tls) await refuseBadTls(target.kind === 'etcd' ? target.endpoints : [target.url.replace(/^rediss:/, 'https:').replace(/\/[0-9]+$/, '')], tls);
  const password = settings.storePasswordFile === null ? undefined : readSecret('storePasswordFile', settings.storePasswordFile).trim();
  if (password === '') throw new ConfigInvalid('store', `storePasswordFile ${settings.storePasswordFile} is empty`);
  const user = settings.storeUser ?? undefined;
  if (target.kind === 'etcd') {
    const { EtcdStore } = await import('../etcd.js');
    return new EtcdStore({
      endpoints: target.endpoints, ...(target.tls ? { tls } : {}), ...(user !== undefined && password !== undefined ? { auth: { username: user, password } } : {}), ...(logger ? { logger } : {}),
    });
  }
  const { RedisStore } = await import('../redis.js');
  return new RedisStore({
    url: target.url, ...(target.tls ? { tls } : {}), ...(password !== undefined ? { password } : {}), ...(user !== undefined ? { username: user } : {}), ...(logger ? { logger } : {}),
  });
}

/**
 * Throws StoreTlsRefused when a member refuses our TLS (no client certificate, unknown
 * CA, expired certificate): waiting does not fix a certificate, and the clients would
 * only say "unavailable". Members that are down or slow are left to the client's retries.
 */
async function refuseBadTls(urls: string[], tls: { ca?: string; cert?: string; key?: string }): Promise<void> {
  const results = await Promise.all(urls.map(async (url) => ({ url, failure: await probeTls(url, tls) })));
  const refused = results.find((r) => r.failure?.tls);
  if (refused?.failure) throw new StoreTlsRefused(refused.url, sharpenRefusal(refused.failure.why, tls));
}

function readSecret(key: string, path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigInvalid('store', `${key} ${path} cannot be read: ${(err as Error).message}`, err);
  }
}
