export * from './load-config.js';
export * from './validators.js';
