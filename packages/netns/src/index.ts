/** Network namespace primitives for the agent, the engine, tests and benches (CNI's pkg/ns). */
export { NETNS_RUN_DIR, THREAD_NETNS, deleteNetns, ensureNetns, inNetns, isNetnsFile, listNetns, netnsId, netnsPath, openNetns } from './netns.js';
export { CLONE_NEWNET, MNT_DETACH, NATIVE_ADDON_PATH, S_IFCHR, native, namespaceSupportMissing, type NativeNs } from './native.js';
