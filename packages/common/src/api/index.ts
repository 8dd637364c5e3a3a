/** Each daemon's API wire types and schemas (`@vxnet/common/api`), apart from the daemons that implement them. */
export * from './names.js';
export * from './agent.js';
export * from './engine.js';
export * from './stats.js';
export * from './ports.js';
export * from './controller.js';
export * from './exec-stream.js';
export * from './restart-policy.js';
export * from './detach-keys.js';
export * from './topology.js';
export * from './image.js';
