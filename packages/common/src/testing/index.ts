/**
 * Test helpers shared by the packages' tests and benchmarks (`@vxnet/common/testing`).
 * Not used by any daemon.
 */
export * from './etcd.js';
export * from './redis.js';
export * from './http.js';
export * from './daemon-config.js';
export * from './store.js';
