export { build, API_VERSION, type AppOptions } from './app.js';
export { CONTROLLER_CONFIG, type ControllerConfig } from './config.js';
export * from './errors.js';
export * from './network/allocate.js';
export { NetworkService } from './network/network-service.js';
export { ClusterView } from './cluster/cluster-view.js';
export { buildUi, type UiAppOptions } from './ui-app.js';
