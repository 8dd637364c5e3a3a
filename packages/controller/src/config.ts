/**
 * Controller configuration: its schema for the common loader (defaults < file <
 * VXNET_* environment < flags; one error listing every problem; frozen).
 */
import { STORE_CONFIG, absolutePath, absolutePathOrNull, between, cidr, cidrList, logLevel, type ConfigSchema, type StoreConfig } from '@vxnet/common';

export interface ControllerConfig extends StoreConfig {
  /** TCP address to serve on, "host:port", or null. */
  listen: string | null;
  /** TCP address of the topology page (read-only, sign-in with the token), "host:port", or null. */
  uiListen: string | null;
  /** Unix socket path to serve on, or null. */
  socket: string | null;
  /** File holding the bearer token requests must carry. */
  tokenFile: string;
  /** Serve TCP without a token. */
  insecure: boolean;
  /** PEM certificate of the TCP listener (HTTPS), with tlsKey. */
  tlsCert: string | null;
  tlsKey: string | null;
  /** PEM CA whose client certificates TCP clients must present (mutual TLS), or null: none asked. */
  tlsClientCa: string | null;
  /** Serve TCP as plain HTTP, without TLS. */
  plaintext: boolean;
  /** Pool that networks without --subnet come from. */
  defaultPool: string;
  /** Prefix length of the blocks cut from the default pool. */
  defaultBlockLength: number;
  /** Underlay CIDRs: no network may overlap them. */
  underlay: string[];
  /** Other ranges no network may overlap. */
  excluded: string[];
  logLevel: string;
  logFile: string | null;
}

export const CONTROLLER_CONFIG: ConfigSchema<ControllerConfig> = {
  ...STORE_CONFIG,
  listen: {
    type: 'string|null', default: null, env: 'VXNET_LISTEN', flag: 'listen', doc: 'TCP address to serve remote CLIs on, host:port (port 7070 by convention)',
    validate: (v, c) => {
      if (v === null) return undefined;
      if (!/^[^\s:]+:[0-9]{1,5}$/.test(v)) return 'must be host:port';
      // secure by default: the token (and every network change) must not cross the network in clear text by accident
      if (c.tlsCert === null && !c.plaintext) return 'is served over HTTPS only: set tlsCert and tlsKey (and tlsClientCa to require client certificates), or plaintext: true (--plaintext) to serve plain HTTP';
      return undefined;
    },
  },
  uiListen: {
    type: 'string|null', default: null, env: 'VXNET_UI_LISTEN', flag: 'ui-listen',
    doc: 'TCP address of the topology page /ui/, host:port (read-only; HTTPS with tlsCert, no client certificate, sign-in with the token); bind it to loopback or a management address',
    validate: (v, c) => {
      if (v === null) return undefined;
      if (!/^[^\s:]+:[0-9]{1,5}$/.test(v)) return 'must be host:port';
      if (c.tlsCert === null && !c.plaintext) return 'is served over HTTPS only: set tlsCert and tlsKey, or plaintext: true (--plaintext) to serve plain HTTP';
      if (v === c.listen) return 'must differ from listen (the page has a listener of its own)';
      return undefined;
    },
  },
  socket: {
    type: 'string|null', default: '/run/vxnet/controller.sock', env: 'VXNET_SOCKET', flag: 'socket', doc: 'unix socket to serve local CLIs on',
    validate: (v, c) => (v === null && c.listen === null && c.uiListen === null ? 'nothing to serve on: set listen (host:port) and/or socket (path)' : absolutePathOrNull(v)),
  },
  tokenFile: {
    type: 'string', default: '/var/lib/vxnet/controller/token', env: 'VXNET_TOKEN_FILE', flag: 'token-file', doc: 'file holding the bearer token TCP requests must carry',
    validate: absolutePath,
  },
  insecure: { type: 'boolean', default: false, env: 'VXNET_INSECURE', flag: 'insecure', doc: 'serve TCP without a token (anyone who reaches the port can change the cluster)' },
  tlsCert: {
    type: 'string|null', default: null, env: 'VXNET_TLS_CERT', flag: 'tls-cert', doc: 'PEM certificate of the TCP listener (HTTPS), with tlsKey',
    validate: (v, c) => absolutePathOrNull(v) ?? (v !== null && c.tlsKey === null ? 'needs tlsKey, the certificate\'s private key' : undefined)
      ?? (v !== null && c.plaintext ? 'contradicts plaintext: true (choose one)' : undefined),
  },
  tlsKey: {
    type: 'string|null', default: null, env: 'VXNET_TLS_KEY', flag: 'tls-key', doc: 'PEM private key of tlsCert (keep it mode 0600)',
    validate: (v, c) => absolutePathOrNull(v) ?? (v !== null && c.tlsCert === null ? 'needs tlsCert, the certificate it belongs to' : undefined),
  },
  tlsClientCa: {
    type: 'string|null', default: null, env: 'VXNET_TLS_CLIENT_CA', flag: 'tls-client-ca', doc: 'PEM CA: TCP clients must present a certificate it signed (mutual TLS), beside the token',
    validate: (v, c) => absolutePathOrNull(v) ?? (v !== null && c.tlsCert === null ? 'needs tlsCert and tlsKey (client certificates are asked for during TLS)' : undefined),
  },
  plaintext: { type: 'boolean', default: false, env: 'VXNET_PLAINTEXT', flag: 'plaintext', doc: 'serve TCP as plain HTTP without TLS (the token and every request cross the network readable)' },
  defaultPool: { type: 'string', default: '10.128.0.0/9', env: 'VXNET_DEFAULT_POOL', flag: 'default-pool', doc: 'pool that networks created without --subnet come from', validate: cidr },
  defaultBlockLength: {
    type: 'integer', default: 16, env: 'VXNET_DEFAULT_BLOCK_LENGTH', flag: 'default-block-length', doc: 'prefix length of the subnets cut from the default pool',
    validate: (v, c) => between(1, 28)(v) ?? (v < Number(c.defaultPool.split('/')[1]) ? `must not be shorter than the default pool's /${c.defaultPool.split('/')[1]}` : undefined),
  },
  underlay: { type: 'string[]', default: [], env: 'VXNET_UNDERLAY', flag: 'underlay', doc: 'underlay CIDRs: no network may overlap them', validate: cidrList },
  excluded: { type: 'string[]', default: [], env: 'VXNET_EXCLUDED', flag: 'excluded', doc: 'other ranges no network may overlap', validate: cidrList },
  logLevel: { type: 'string', default: 'info', env: 'VXNET_LOG_LEVEL', flag: 'log-level', doc: 'log level', validate: logLevel },
  logFile: { type: 'string|null', default: null, env: 'VXNET_LOG_FILE', flag: 'log-file', doc: 'log to this file instead of stdout', validate: absolutePathOrNull },
};
