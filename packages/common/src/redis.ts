/**
 * The Redis-backed Store (`@vxnet/common/redis`), apart from the main entry so that
 * processes that never talk to Redis do not load ioredis.
 */
export * from './store/redis-store.js';
/**
 * The scripts themselves, for tools that must do exactly RedisStore's round trips
 * without its client code (bench/store.ts measures the wrapper against them).
 */
export { LOG_KEY, defineScripts, runScript } from './store/redis-scripts.js';
