export * from './errors.js';
export * from './process.js';
export * from './etcd-server.js';
export type * from './store/store.js';
