/**
 * Which store a daemon talks to, as one URL (the `store` setting of every daemon):
 *
 *   etcd://10.0.0.11:2379,10.0.0.12:2379,10.0.0.13:2379   etcd, every member listed
 *   etcds://…                                              the same over TLS
 *   redis://10.0.0.11:6379/0                               Redis, database 0
 *   rediss://10.0.0.11:6379/0                              Redis over TLS
 *
 * Ports default to 2379 and 6379, the Redis database to 0. Credentials never go in
 * the URL (it is shown in logs, `--print-config` and `ps`): a Redis password comes
 * from `storePasswordFile`, certificates from `storeCa`/`storeCert`/`storeKey`.
 */
import { InvalidArgument } from '../errors.js';

export type StoreTarget =
  | { kind: 'etcd'; tls: boolean; /** Client URLs for etcd3: http(s)://host:port. */ endpoints: string[] }
  | { kind: 'redis'; tls: boolean; /** redis(s)://host:port/db, as given (normalised). */ url: string };

export const STORE_SCHEMES = ['etcd', 'etcds', 'redis', 'rediss'] as const;

const HOST = /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*|\[[0-9A-Fa-f:.]+\])$/;

/** Parse a store URL; throws InvalidArgument saying what is wrong with it. */
export function parseStoreUrl(url: string): StoreTarget {
  const bad = (why: string) => new InvalidArgument(`store URL "${url}" ${why}`);
  const m = /^([a-z]+):\/\/([^/?#]*)(\/[^?#]*)?$/.exec(url);
  if (m === null) throw bad(`must look like etcd://HOST:PORT[,HOST:PORT…] or redis://HOST:PORT[/DB] (schemes: ${STORE_SCHEMES.join(', ')})`);
  const [, scheme = '', authority = '', path = ''] = m;
  if (!(STORE_SCHEMES as readonly string[]).includes(scheme)) throw bad(`has an unknown scheme "${scheme}": use ${STORE_SCHEMES.join(', ')}`);
  if (authority.includes('@')) throw bad('carries credentials: give the password in storePasswordFile (a URL shows up in logs and ps)');
  const redis = scheme.startsWith('redis');
  const tls = scheme === 'etcds' || scheme === 'rediss';
  const hosts = authority.split(',').map((h) => hostPort(h, redis ? 6379 : 2379, bad));
  if (redis) {
    if (hosts.length !== 1) throw bad('names several servers: Redis takes exactly one (Redis Cluster is not supported)');
    const db = path === '' || path === '/' ? '0' : path.slice(1);
    if (!/^(?:[0-9]|1[0-5])$/.test(db)) throw bad(`has database "${db}": must be 0-15`);
    return { kind: 'redis', tls, url: `${scheme}://${hosts[0]}/${db}` };
  }
  if (path !== '' && path !== '/') throw bad('has a path: etcd URLs are only HOST:PORT lists');
  return { kind: 'etcd', tls, endpoints: hosts.map((h) => `${tls ? 'https' : 'http'}://${h}`) };
}

function hostPort(text: string, defaultPort: number, bad: (why: string) => Error): string {
  const m = /^(\[[^\]]*\]|[^:]*)(?::([0-9]{1,5}))?$/.exec(text);
  const host = m?.[1] ?? '';
  if (m === null || !HOST.test(host)) throw bad(`has a bad host "${text}": must be HOST or HOST:PORT`);
  const port = m[2] === undefined ? defaultPort : Number(m[2]);
  if (port < 1 || port > 65_535) throw bad(`has port ${port}: must be 1-65535`);
  return `${host}:${port}`;
}
