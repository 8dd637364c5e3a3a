/**
 * A CNI runtime for tests, doing what libcni (containernetworking/cni libcni/api.go)
 * does, since cnitool is not packaged in Debian: for a network configuration list,
 * ADD runs the plugins in list order, each getting the previous one's result as
 * `prevResult`, and caches the final result; CHECK passes the cached result to each
 * plugin in order; DEL runs them in reverse with the cached result (or none) and drops
 * the cache. STATUS and GC go to every plugin. Each plugin is found by its `type` in
 * CNI_PATH and executed inside a lab host's machine with an environment holding only
 * the CNI_* variables (no PATH: the plugin must not need one) and the configuration
 * on stdin: `cniVersion` and `name` from the list, `runtimeConfig` with only the
 * capabilities the plugin declares.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { enterArgs, type ProcessJson } from './lab.js';

export interface PluginConf {
  type: string;
  capabilities?: Record<string, boolean>;
  [key: string]: unknown;
}

export interface ConfList {
  cniVersion: string;
  name: string;
  plugins: PluginConf[];
}

export interface Attachment {
  containerId: string;
  /** Path of the container's network namespace, as the plugin sees it (inside the host's machine). */
  netns: string;
  ifname: string;
  /** CNI_ARGS entries. */
  args?: Record<string, string>;
  /** Runtime capability values (aliases, ips, portMappings…), passed to plugins declaring them. */
  capabilityArgs?: Record<string, unknown>;
}

/** What one plugin execution did. */
export interface Exec {
  plugin: string;
  code: number;
  stdout: string;
  stderr: string;
  ms: number;
  /** stdout parsed (undefined when empty); throws in the harness when stdout is not exactly one JSON document. */
  json: Record<string, unknown> | undefined;
}

export class CniCallFailed extends Error {
  constructor(readonly exec: Exec) {
    super(`${exec.plugin} exited ${exec.code}: ${exec.stdout.trim() || exec.stderr.trim()}`);
  }

  /** The CNI error code the plugin printed. */
  get code(): number | undefined {
    return typeof this.exec.json?.code === 'number' ? this.exec.json.code : undefined;
  }

  get msg(): string {
    return String(this.exec.json?.msg ?? '');
  }
}

/** Runs one executable inside a lab host's machine with exactly `env` and `stdin`. */
export function execInMachine(host: { keeper: ProcessJson }, path: string, env: Record<string, string>, stdin: string, timeoutMs = 30_000): Promise<Exec> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn('nsenter', [...enterArgs(host), path], { env, stdio: ['pipe', 'pipe', 'pipe'], timeout: timeoutMs });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    child.on('error', reject);
    child.on('close', (code) => {
      const stdout = Buffer.concat(out).toString('utf8');
      let json: Record<string, unknown> | undefined;
      if (stdout.trim() !== '') {
        try {
          json = JSON.parse(stdout) as Record<string, unknown>;
        } catch {
          reject(new Error(`${path}: stdout is not one JSON document: ${JSON.stringify(stdout.slice(0, 400))}`));
          return;
        }
      }
      resolve({ plugin: path, code: code ?? -1, stdout, stderr: Buffer.concat(err).toString('utf8'), ms: performance.now() - started, json });
    });
    child.stdin.end(stdin);
  });
}

export class CniRuntime {
  /** libcni's result cache: network name + container + ifname -> the final ADD result. */
  private readonly cache = new Map<string, Record<string, unknown>>();
  /** Every execution, in order (tests check that stdout was only JSON, and timings). */
  readonly execs: Exec[] = [];

  /**
   * @param host     the lab host whose machine runs the plugins
   * @param list     the network configuration list
   * @param cniPath  plugin directories as seen from the root namespace, the same paths inside the machine
   */
  constructor(private readonly host: { keeper: ProcessJson }, readonly list: ConfList, private readonly cniPath: string[]) {}

  private key(a: Pick<Attachment, 'containerId' | 'ifname'>): string {
    return `${this.list.name}\n${a.containerId}\n${a.ifname}`;
  }

  cached(a: Pick<Attachment, 'containerId' | 'ifname'>): Record<string, unknown> | undefined {
    return this.cache.get(this.key(a));
  }

  private find(type: string): string {
    for (const dir of this.cniPath) {
      const p = join(dir, type);
      if (existsSync(p)) return p;
    }
    throw new Error(`plugin "${type}" not found in ${this.cniPath.join(':')}`);
  }

  private stdin(plugin: PluginConf, extra: { prevResult?: unknown; capabilityArgs?: Record<string, unknown>; gc?: unknown }): string {
    const conf: Record<string, unknown> = { ...plugin, cniVersion: this.list.cniVersion, name: this.list.name };
    const rc: Record<string, unknown> = {};
    for (const [cap, on] of Object.entries(plugin.capabilities ?? {})) {
      if (on && extra.capabilityArgs?.[cap] !== undefined) rc[cap] = extra.capabilityArgs[cap];
    }
    if (Object.keys(rc).length > 0) conf.runtimeConfig = rc;
    if (extra.prevResult !== undefined) conf.prevResult = extra.prevResult;
    if (extra.gc !== undefined) conf['cni.dev/valid-attachments'] = extra.gc;
    return JSON.stringify(conf);
  }

  private env(command: string, a?: Partial<Attachment>): Record<string, string> {
    const env: Record<string, string> = { CNI_COMMAND: command, CNI_PATH: this.cniPath.join(':') };
    if (a?.containerId !== undefined) env.CNI_CONTAINERID = a.containerId;
    if (a?.netns !== undefined) env.CNI_NETNS = a.netns;
    if (a?.ifname !== undefined) env.CNI_IFNAME = a.ifname;
    if (a?.args !== undefined) env.CNI_ARGS = Object.entries(a.args).map(([k, v]) => `${k}=${v}`).join(';');
    return env;
  }

  private async exec(plugin: PluginConf, env: Record<string, string>, stdin: string): Promise<Exec> {
    const e = await execInMachine(this.host, this.find(plugin.type), env, stdin);
    this.execs.push(e);
    if (e.code !== 0) throw new CniCallFailed(e);
    return e;
  }

  /** ADD through the list; resolves the final result (cached). */
  async add(a: Attachment): Promise<Record<string, unknown>> {
    let prev: Record<string, unknown> | undefined;
    for (const plugin of this.list.plugins) {
      const e = await this.exec(plugin, this.env('ADD', a), this.stdin(plugin, { prevResult: prev, capabilityArgs: a.capabilityArgs }));
      if (!e.json) throw new Error(`${plugin.type} ADD printed no result`);
      prev = e.json;
    }
    this.cache.set(this.key(a), prev as Record<string, unknown>);
    return prev as Record<string, unknown>;
  }

  /** CHECK through the list with the cached result (or `prevResult` given; null: none). */
  async check(a: Attachment, prevResult: Record<string, unknown> | null | undefined = this.cached(a)): Promise<void> {
    for (const plugin of this.list.plugins) {
      await this.exec(plugin, this.env('CHECK', a), this.stdin(plugin, { prevResult: prevResult ?? undefined, capabilityArgs: a.capabilityArgs }));
    }
  }

  /** DEL through the list in reverse, with the cached result unless `noPrevResult`; drops the cache entry. */
  async del(a: Omit<Attachment, 'netns'> & { netns?: string }, opts: { noPrevResult?: boolean } = {}): Promise<void> {
    const prevResult = opts.noPrevResult ? undefined : this.cached(a);
    for (const plugin of [...this.list.plugins].reverse()) {
      await this.exec(plugin, this.env('DEL', a), this.stdin(plugin, { prevResult, capabilityArgs: a.capabilityArgs }));
    }
    this.cache.delete(this.key(a));
  }

  /** STATUS of the first plugin (the one that does the attaching). */
  async status(): Promise<void> {
    const plugin = this.list.plugins[0] as PluginConf;
    await this.exec(plugin, this.env('STATUS'), this.stdin(plugin, {}));
  }

  /** GC of the first plugin with the valid attachments. */
  async gc(valid: Array<{ containerID: string; ifname: string }>): Promise<void> {
    const plugin = this.list.plugins[0] as PluginConf;
    await this.exec(plugin, this.env('GC'), this.stdin(plugin, { gc: valid }));
  }

  /** VERSION of a plugin, with `cniVersion` on stdin. */
  async version(type = this.list.plugins[0]?.type ?? 'vxnet', cniVersion = this.list.cniVersion): Promise<Exec> {
    return execInMachine(this.host, this.find(type), this.env('VERSION'), JSON.stringify({ cniVersion }));
  }

  /** One raw call of the first plugin (error-case tests). */
  raw(env: Record<string, string>, stdin: string): Promise<Exec> {
    const plugin = this.list.plugins[0] as PluginConf;
    return execInMachine(this.host, this.find(plugin.type), env, stdin);
  }
}
