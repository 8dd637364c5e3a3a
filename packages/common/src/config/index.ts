export * from './load-config.js';
export * from './validators.js';
export * from './store-config.js';
