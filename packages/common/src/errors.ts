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
export const StoreUnavailable = defineError('VXNET_STORE_UNAVAILABLE', 503, 'could not reach the store at %s: %s');
export const StoreLeaseLost = defineError('VXNET_STORE_LEASE_LOST', 503, 'lease %s was lost: %s');
export const StoreClosed = defineError('VXNET_STORE_CLOSED', 500, 'the store client is closed');
export const StoreWatchInterrupted = defineError('VXNET_STORE_WATCH_INTERRUPTED', 503, 'the watch on prefix %s was interrupted (%s); retrying');
export const EtcdStartFailed = defineError('VXNET_ETCD_START_FAILED', 500, 'could not start etcd %s: %s');

/** True for errors meant for the user (bad input, conflicts, missing things). */
export function isUserError(err: unknown): err is VxnetError {
  return err instanceof VxnetError;
}
