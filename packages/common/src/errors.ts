/**
 * The error catalogue shared by every vxnet package, in the manner of fastify's
 * lib/errors.js: each error has a stable code, an HTTP status and a message template
 * whose `%s` are filled with what could not be done, to what, and why.
 *
 * User errors (bad input, missing things, conflicts) are VxnetErrors: the CLI prints
 * their message on one line and exits non-zero; it never prints their stack.
 */
import { format } from 'node:util';

export class VxnetError extends Error {
  /** Stable machine-readable code, e.g. `VXNET_LAB_NOT_FOUND`. */
  readonly code: string;
  /** HTTP status an API answers this error with. */
  readonly statusCode: number;

  constructor(code: string, statusCode: number, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'VxnetError';
    this.code = code;
    this.statusCode = statusCode;
  }
}

export interface VxnetErrorClass {
  new (...args: unknown[]): VxnetError;
  readonly code: string;
  readonly statusCode: number;
}

/**
 * Define one catalogue entry. Arguments fill the template's `%s` in order; an extra
 * trailing `Error` argument becomes the `cause`.
 */
export function defineError(code: string, statusCode: number, template: string): VxnetErrorClass {
  const cls = class extends VxnetError {
    static readonly code = code;
    static readonly statusCode = statusCode;
    constructor(...args: unknown[]) {
      const holes = (template.match(/%s/g) ?? []).length;
      const cause = args.length > holes && args[args.length - 1] instanceof Error ? args[args.length - 1] : undefined;
      super(code, statusCode, format(template, ...args.slice(0, holes)), cause === undefined ? undefined : { cause });
    }
  };
  Object.defineProperty(cls, 'name', { value: code });
  return cls;
}

export const InvalidArgument = defineError('VXNET_INVALID_ARGUMENT', 400, '%s');
/** A daemon's configuration (file, environment, flags): the daemon name, then every problem. */
export const ConfigInvalid = defineError('VXNET_CONFIG_INVALID', 400, 'invalid %s configuration: %s');
export const StoreUnavailable = defineError('VXNET_STORE_UNAVAILABLE', 503, 'store unavailable at %s: %s');
export const StoreTlsRefused = defineError('VXNET_STORE_TLS_REFUSED', 503, 'could not connect to the store at %s over TLS: %s');
export const StoreLeaseLost = defineError('VXNET_STORE_LEASE_LOST', 503, 'lease %s was lost: %s');
export const StoreClosed = defineError('VXNET_STORE_CLOSED', 500, 'the store client is closed');
export const StoreWatchInterrupted = defineError('VXNET_STORE_WATCH_INTERRUPTED', 503, 'the watch on prefix %s was interrupted (%s); retrying');
export const EtcdStartFailed = defineError('VXNET_ETCD_START_FAILED', 500, 'could not start etcd %s: %s');
export const RedisStartFailed = defineError('VXNET_REDIS_START_FAILED', 500, 'could not start redis %s: %s');

/** True for errors meant for the user (bad input, conflicts, missing things). */
export function isUserError(err: unknown): err is VxnetError {
  return err instanceof VxnetError;
}

/** What an API answers for an error thrown while serving a request. */
export interface ApiErrorAnswer {
  statusCode: number;
  body: { code: string; message: string };
  /** A bug rather than a refused request: log it. */
  internal: boolean;
}

/**
 * The one mapping every vxnet API (controller, agent, engine) uses: a VxnetError keeps
 * its code and status; a schema failure is 400 VXNET_INVALID_ARGUMENT; other client
 * errors of the HTTP layer (malformed JSON, wrong content type) keep their 4xx;
 * anything else is 500 VXNET_INTERNAL.
 */
export function apiErrorAnswer(err: unknown): ApiErrorAnswer {
  if (err instanceof VxnetError) return { statusCode: err.statusCode, body: { code: err.code, message: err.message }, internal: false };
  const e = err as { validation?: unknown; statusCode?: number; message?: string };
  const message = e?.message ?? String(err);
  if (e?.validation) return { statusCode: 400, body: { code: 'VXNET_INVALID_ARGUMENT', message: `invalid request: ${message}` }, internal: false };
  if (e?.statusCode && e.statusCode >= 400 && e.statusCode < 500) return { statusCode: e.statusCode, body: { code: 'VXNET_BAD_REQUEST', message }, internal: false };
  return { statusCode: 500, body: { code: 'VXNET_INTERNAL', message: `internal error: ${message}` }, internal: true };
}
