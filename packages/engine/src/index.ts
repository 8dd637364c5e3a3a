/** The engine's building blocks and API types (for the CLI and tests); the daemon itself is main.ts. */
export { Engine, KEEP_ALIVE, type ContainerProcs, type EngineOptions } from './engine.js';
export { parseNetworks, checkRunRequest } from './run-request.js';
export { buildSpec, DEFAULT_CAPABILITIES, type OciSpec, type SpecInput } from './runtime/oci-spec.js';
export { Runc } from './runtime/runc.js';
export { ImageStore } from './image/images.js';
export { Sandboxes } from './sandbox/sandbox.js';
export { hostsFile, resolvConf, hostnameFile } from './sandbox/etc-files.js';
export { ENGINE_CONFIG, type EngineConfig } from './config.js';
export { nameProblem, hostnameProblem, generateName } from './names.js';
