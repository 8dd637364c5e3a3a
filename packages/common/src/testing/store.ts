/**
 * A throwaway store of either kind for tests that must hold on both (the controller's
 * races, the agents' lease race): `for (const kind of STORE_KINDS) …`.
 */
import { openStore } from '../store/open-store.js';
import type { Store } from '../store/store.js';
import { etcdMissing, startTestEtcd } from './etcd.js';
import { redisMissing, startTestRedis } from './redis.js';

export const STORE_KINDS = ['etcd', 'redis'] as const;
export type StoreKind = (typeof STORE_KINDS)[number];

export interface TestStore {
  readonly kind: StoreKind;
  /** The daemons' `store` setting for it: etcd://127.0.0.1:PORT or redis://127.0.0.1:PORT/0. */
  readonly url: string;
  /** A new client (the caller closes it). */
  open(): Promise<Store>;
  /** Stop the server and remove its data. Idempotent. */
  destroy(): Promise<void>;
}

/** Why a store of `kind` cannot run here, or undefined. */
export function storeMissing(kind: StoreKind): string | undefined {
  return kind === 'etcd' ? etcdMissing() : redisMissing();
}

export async function startTestStore(kind: StoreKind, name = 'vxnet-test'): Promise<TestStore> {
  const server = kind === 'etcd' ? await startTestEtcd(name) : await startTestRedis(name);
  const url = kind === 'etcd' ? (server as Awaited<ReturnType<typeof startTestEtcd>>).storeUrl : (server as Awaited<ReturnType<typeof startTestRedis>>).url;
  return {
    kind,
    url,
    open: () => openStore({ store: url, storeCa: null, storeCert: null, storeKey: null, storeUser: null, storePasswordFile: null }),
    destroy: () => server.destroy(),
  };
}
