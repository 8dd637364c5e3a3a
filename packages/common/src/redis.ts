/**
 * The Redis-backed Store (`@vxnet/common/redis`), apart from the main entry so that
 * processes that never talk to Redis do not load ioredis.
 */
export * from './store/redis-store.js';
