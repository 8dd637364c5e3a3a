/**
 * The store settings, one block shared by every daemon that talks to the store (the
 * controller and the agent), so the same file lines and flags work for both.
 */
import { InvalidArgument } from '../errors.js';
import { DEFAULT_STORE_PREFIX } from '../keys.js';
import type { StoreSettings } from '../store/open-store.js';
import { parseStoreUrl } from '../store/store-url.js';
import type { ConfigSchema } from './load-config.js';
import { absolutePathOrNull, storePrefix } from './validators.js';

export interface StoreConfig extends StoreSettings {
  /** Prefix of every vxnet key in the store. */
  storePrefix: string;
}

/** Why a store URL is unacceptable, or undefined. */
export function storeUrl(v: string): string | undefined {
  try {
    parseStoreUrl(v);
    return undefined;
  } catch (err) {
    if (err instanceof InvalidArgument) return `must be a store URL: ${err.message}`;
    throw err;
  }
}

const tlsOnly = (what: string) => (v: string | null, c: Readonly<StoreConfig>): string | undefined => {
  if (v === null) return undefined;
  const url = storeUrl(c.store) === undefined ? parseStoreUrl(c.store) : undefined;
  if (url !== undefined && !url.tls) return `is ${what}, used only over TLS: use an etcds:// or rediss:// store URL`;
  return absolutePathOrNull(v);
};

export const STORE_CONFIG: ConfigSchema<StoreConfig> = {
  store: {
    type: 'string', default: 'etcd://127.0.0.1:2379', env: 'VXNET_STORE', flag: 'store',
    doc: 'the store: etcd://HOST:PORT[,HOST:PORT…] (every member), redis://HOST:PORT/DB; etcds:// and rediss:// for TLS',
    validate: storeUrl,
  },
  storePrefix: { type: 'string', default: DEFAULT_STORE_PREFIX, env: 'VXNET_STORE_PREFIX', flag: 'store-prefix', doc: 'prefix of every vxnet key in the store', validate: storePrefix },
  storeCa: { type: 'string|null', default: null, env: 'VXNET_STORE_CA', flag: 'store-ca', doc: 'PEM file of the CA that signed the store servers\' certificates (TLS)', validate: tlsOnly('a CA file') },
  storeCert: {
    type: 'string|null', default: null, env: 'VXNET_STORE_CERT', flag: 'store-cert', doc: 'PEM client certificate presented to the store (TLS), with storeKey',
    validate: (v, c) => tlsOnly('a client certificate')(v, c) ?? (v !== null && c.storeKey === null ? 'needs storeKey, the certificate\'s private key' : undefined),
  },
  storeKey: {
    type: 'string|null', default: null, env: 'VXNET_STORE_KEY', flag: 'store-key', doc: 'PEM private key of storeCert',
    validate: (v, c) => tlsOnly('a private key')(v, c) ?? (v !== null && c.storeCert === null ? 'needs storeCert, the certificate it belongs to' : undefined),
  },
  storeUser: {
    type: 'string|null', default: null, env: 'VXNET_STORE_USER', flag: 'store-user', doc: 'store user: an etcd user (with storePasswordFile), or a Redis ACL user (default: the default user)',
    validate: (v) => (v === null || /^[A-Za-z0-9_.@-]{1,64}$/.test(v) ? undefined : 'must be 1-64 characters [A-Za-z0-9_.@-]'),
  },
  storePasswordFile: {
    type: 'string|null', default: null, env: 'VXNET_STORE_PASSWORD_FILE', flag: 'store-password-file', doc: 'file holding the store user\'s password (etcd auth, Redis AUTH); keep it mode 0600',
    validate: (v, c) => {
      if (v === null) return c.storeUser !== null && storeUrl(c.store) === undefined && parseStoreUrl(c.store).kind === 'etcd' ? 'is missing: storeUser is set, and an etcd user needs its password' : undefined;
      if (c.storeUser === null && storeUrl(c.store) === undefined && parseStoreUrl(c.store).kind === 'etcd') return 'needs storeUser: etcd users have names';
      return absolutePathOrNull(v);
    },
  },
};
