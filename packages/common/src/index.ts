export * from './errors.js';
export * from './process.js';
export * from './etcd-server.js';
export type * from './store/store.js';
export * from './ipv4.js';
export * from './log.js';
