/**
 * `vxnet cni install`: the plugin executable and a network configuration list on one
 * host, so a CNI runtime (podman, containerd, CRI-O, kubelet) attaches containers to a
 * vxnet network. The executable is a short sh script that runs this Node by absolute
 * path (a runtime's PATH may have no `node`, trap C6) on the plugin's main module where
 * vxnet is installed. Both files are written atomically (a runtime
 * may exec the plugin while it is replaced) and only over files vxnet wrote: an
 * existing conflist for another plugin is never overwritten.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CNI_CONFIG_VERSION } from './protocol.js';

export interface CniInstallOptions {
  /** The vxnet network (a valid vxnet name; the caller checks it exists). */
  network: string;
  /** Plugin directory (default /opt/cni/bin). */
  dir?: string;
  /** Configuration directory (default /etc/cni/net.d). */
  confDir?: string;
  /** The interpreter (default: this process's node). */
  nodePath?: string;
}

export interface CniInstallResult {
  plugin: string;
  conflist: string;
  /** Per file: written, or already as it should be. */
  pluginChanged: boolean;
  conflistChanged: boolean;
}

export const DEFAULT_CNI_BIN_DIR = '/opt/cni/bin';
export const DEFAULT_CNI_CONF_DIR = '/etc/cni/net.d';
/** The executable's name: the `type` of the configuration. */
export const CNI_PLUGIN_TYPE = 'vxnet';

/** The conflist's file name: 10- so it sorts before others (kubelet and containerd take the first). */
export function conflistName(network: string): string {
  return `10-vxnet-${network}.conflist`;
}

/** The configuration list for `network`, identical on every host. */
export function conflist(network: string): Record<string, unknown> {
  return {
    cniVersion: CNI_CONFIG_VERSION,
    name: network,
    plugins: [{ type: CNI_PLUGIN_TYPE, network, capabilities: { aliases: true, ips: true } }],
  };
}

/** `s` as one word of sh, single-quoted. */
function shQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/**
 * The executable's text: a sh script that runs `node` by absolute path on the plugin's
 * main module. Runtimes pass their own environment to plugins (libcni appends the
 * CNI_* variables to it): Node's variables in it would change this process (NODE_OPTIONS
 * preloading modules, NODE_EXTRA_CA_CERTS adding 45 ms to every start here), so they
 * are dropped first.
 */
export function pluginScript(nodePath: string, mainPath: string): string {
  return [
    '#!/bin/sh',
    '# The vxnet CNI plugin, written by `vxnet cni install`; run that again after moving vxnet or node.',
    'unset NODE_OPTIONS NODE_EXTRA_CA_CERTS NODE_PATH NODE_REPL_EXTERNAL_MODULE',
    `exec ${shQuote(nodePath)} ${shQuote(mainPath)}`,
    '',
  ].join('\n');
}

/** Writes `text` to `path` unless it is already so; atomically (temporary file, rename). True when written. */
function writeIfChanged(path: string, text: string, mode: number): boolean {
  if (existsSync(path) && readFileSync(path, 'utf8') === text) {
    chmodSync(path, mode);
    return false;
  }
  const tmp = `${path}.vxnet-tmp-${process.pid}`;
  writeFileSync(tmp, text, { mode });
  chmodSync(tmp, mode);
  renameSync(tmp, path);
  return true;
}

/** Throws an Error saying why when `path` exists and is not a vxnet conflist. */
function checkOurs(path: string): void {
  if (!existsSync(path)) return;
  let plugins: unknown;
  try {
    plugins = (JSON.parse(readFileSync(path, 'utf8')) as { plugins?: unknown }).plugins;
  } catch (err) {
    throw new Error(`${path} exists and is not a JSON network configuration list (${(err as Error).message}); remove it or choose another --conf-dir`);
  }
  const first = Array.isArray(plugins) ? (plugins[0] as { type?: unknown } | undefined) : undefined;
  if (first?.type !== CNI_PLUGIN_TYPE) throw new Error(`${path} exists and is not vxnet's (its first plugin is not "${CNI_PLUGIN_TYPE}"); it was left alone`);
}

export function installCni(o: CniInstallOptions): CniInstallResult {
  const dir = o.dir ?? DEFAULT_CNI_BIN_DIR;
  const confDir = o.confDir ?? DEFAULT_CNI_CONF_DIR;
  const plugin = join(dir, CNI_PLUGIN_TYPE);
  const list = join(confDir, conflistName(o.network));
  checkOurs(list);
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  mkdirSync(confDir, { recursive: true, mode: 0o755 });
  const main = fileURLToPath(new URL('./main.js', import.meta.url));
  const pluginChanged = writeIfChanged(plugin, pluginScript(o.nodePath ?? process.execPath, main), 0o755);
  const conflistChanged = writeIfChanged(list, `${JSON.stringify(conflist(o.network), null, 2)}\n`, 0o644);
  return { plugin, conflist: list, pluginChanged, conflistChanged };
}
