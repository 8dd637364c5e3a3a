export * from './keys.js';
export * from './wg-config.js';
export * from './tunnel-address.js';
export * from './wireguard.js';
