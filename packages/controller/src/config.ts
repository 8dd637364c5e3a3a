/**
 * Controller configuration: defaults -> config file (JSON) -> VXNET_* environment ->
 * flags; validated once (one error listing every problem), then frozen.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { DEFAULT_STORE_PREFIX, parseCidr } from '@vxnet/common';
import { ConfigInvalid } from './errors.js';

export interface ControllerConfig {
  /** etcd client URLs. */
  storeEndpoints: string[];
  storePrefix: string;
  /** TCP address to serve on, "host:port", or null. */
  listen: string | null;
  /** Unix socket path to serve on, or null. */
  socket: string | null;
  /**
   * File holding the bearer token every request on the TCP listener must carry;
   * generated (0600) at the first start when missing. The unix socket needs none.
   */
  tokenFile: string;
  /** Serve TCP without a token (explicit opt-out: anyone who reaches the port can change the cluster). */
  insecure: boolean;
  /** Pool that networks without --subnet come from. */
  defaultPool: string;
  /** Prefix length of the blocks cut from the default pool. */
  defaultBlockLength: number;
  /** Underlay CIDRs: no network may overlap them. */
  underlay: string[];
  /** Other ranges no network may overlap. */
  excluded: string[];
  logFile: string | null;
  logLevel: string;
}

export const DEFAULTS: ControllerConfig = {
  storeEndpoints: ['http://127.0.0.1:2379'],
  storePrefix: DEFAULT_STORE_PREFIX,
  listen: null,
  socket: null,
  tokenFile: '/var/lib/vxnet/controller/token',
  insecure: false,
  defaultPool: '10.128.0.0/9',
  defaultBlockLength: 16,
  underlay: [],
  excluded: [],
  logFile: null,
  logLevel: 'info',
};

const list = (v: string) => v.split(',').map((s) => s.trim()).filter(Boolean);

const ENV: Array<[string, keyof ControllerConfig, (v: string) => unknown]> = [
  ['VXNET_STORE_ENDPOINTS', 'storeEndpoints', list],
  ['VXNET_STORE_PREFIX', 'storePrefix', String],
  ['VXNET_LISTEN', 'listen', String],
  ['VXNET_SOCKET', 'socket', String],
  ['VXNET_TOKEN_FILE', 'tokenFile', String],
  ['VXNET_DEFAULT_POOL', 'defaultPool', String],
  ['VXNET_UNDERLAY', 'underlay', list],
  ['VXNET_EXCLUDED', 'excluded', list],
  ['VXNET_LOG_LEVEL', 'logLevel', String],
];

/** Build the configuration from argv and the environment. Throws ConfigInvalid. */
export function loadConfig(argv: string[], env: NodeJS.ProcessEnv = process.env): Readonly<ControllerConfig> {
  const { values } = parseArgs({
    args: argv,
    options: {
      config: { type: 'string' },
      store: { type: 'string' },
      'store-prefix': { type: 'string' },
      listen: { type: 'string' },
      socket: { type: 'string' },
      'token-file': { type: 'string' },
      insecure: { type: 'boolean' },
      'default-pool': { type: 'string' },
      underlay: { type: 'string' },
      excluded: { type: 'string' },
      'log-file': { type: 'string' },
      'log-level': { type: 'string' },
    },
    strict: true,
  });
  let cfg: Record<string, unknown> = { ...DEFAULTS };
  if (values.config) {
    try {
      cfg = { ...cfg, ...(JSON.parse(readFileSync(values.config, 'utf8')) as object) };
    } catch (err) {
      throw new ConfigInvalid(`could not read config file ${values.config}: ${(err as Error).message}`);
    }
  }
  for (const [name, key, conv] of ENV) if (env[name]) cfg[key] = conv(env[name] as string);
  const flags: Array<[string | undefined, keyof ControllerConfig, (v: string) => unknown]> = [
    [values.store, 'storeEndpoints', list],
    [values['store-prefix'], 'storePrefix', String],
    [values.listen, 'listen', String],
    [values.socket, 'socket', String],
    [values['token-file'], 'tokenFile', String],
    [values['default-pool'], 'defaultPool', String],
    [values.underlay, 'underlay', list],
    [values.excluded, 'excluded', list],
    [values['log-file'], 'logFile', String],
    [values['log-level'], 'logLevel', String],
  ];
  for (const [v, key, conv] of flags) if (v !== undefined) cfg[key] = conv(v);
  if (values.insecure) cfg.insecure = true;
  return Object.freeze(validateConfig(cfg));
}

export function validateConfig(cfg: Record<string, unknown>): ControllerConfig {
  const problems: string[] = [];
  const known = new Set(Object.keys(DEFAULTS));
  for (const k of Object.keys(cfg)) if (!known.has(k)) problems.push(`unknown setting "${k}"`);
  const c = cfg as unknown as ControllerConfig;
  if (!Array.isArray(c.storeEndpoints) || c.storeEndpoints.length === 0 || !c.storeEndpoints.every((e) => /^https?:\/\/[^\s/]+$/.test(e))) {
    problems.push('storeEndpoints must be a non-empty list of URLs like http://127.0.0.1:2379');
  }
  if (typeof c.storePrefix !== 'string' || !c.storePrefix.startsWith('/')) problems.push('storePrefix must start with "/"');
  if (c.listen !== null && (typeof c.listen !== 'string' || !/^[^\s:]+:[0-9]{1,5}$/.test(c.listen))) problems.push(`listen must be host:port, got "${String(c.listen)}"`);
  if (c.listen === null && c.socket === null) problems.push('nothing to serve on: set listen (host:port) and/or socket (path)');
  if (typeof c.tokenFile !== 'string' || c.tokenFile === '') problems.push('tokenFile must be a file path');
  if (typeof c.insecure !== 'boolean') problems.push('insecure must be true or false');
  for (const [key, v] of [['defaultPool', c.defaultPool]] as const) {
    try {
      parseCidr(String(v), key);
    } catch (err) {
      problems.push((err as Error).message);
    }
  }
  if (!Number.isInteger(c.defaultBlockLength) || c.defaultBlockLength < 1 || c.defaultBlockLength > 28) problems.push('defaultBlockLength must be 1-28');
  for (const key of ['underlay', 'excluded'] as const) {
    if (!Array.isArray(c[key])) {
      problems.push(`${key} must be a list of CIDRs`);
      continue;
    }
    for (const v of c[key]) {
      try {
        parseCidr(String(v), `${key} range`);
      } catch (err) {
        problems.push((err as Error).message);
      }
    }
  }
  if (!['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].includes(c.logLevel)) problems.push(`unknown logLevel "${c.logLevel}"`);
  if (problems.length > 0) throw new ConfigInvalid(problems.join('; '));
  return c;
}
