export * from './errors.js';
export * from './process.js';
export * from './etcd-server.js';
export * from './store/index.js';
export * from './ipv4.js';
export * from './log.js';
export * from './keys.js';
export * from './records.js';
