export type * from './store.js';
export * from './memory-store.js';
export * from './store-url.js';
export * from './open-store.js';
