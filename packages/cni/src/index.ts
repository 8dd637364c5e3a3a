export * from './protocol.js';
export * from './wire.js';
export { runPlugin } from './plugin.js';
export { CNI_PLUGIN_TYPE, DEFAULT_CNI_BIN_DIR, DEFAULT_CNI_CONF_DIR, conflist, conflistName, installCni, pluginScript, type CniInstallOptions, type CniInstallResult } from './install.js';
