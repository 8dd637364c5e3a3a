/**
 * Validators shared by the daemons' config schemas. Each returns why a value is
 * unacceptable ("must be …"), or undefined; the loader adds the key, the value and
 * where it came from.
 */
import { isAbsolute } from 'node:path';
import { parseCidr } from '../ipv4.js';

/** Names of hosts as the store keys them (`hosts/<host>`). */
const HOST_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

export function hostName(v: string): string | undefined {
  return HOST_NAME.test(v) ? undefined : 'must be 1-64 characters [A-Za-z0-9_.-], starting with a letter or digit';
}

export function absolutePath(v: string): string | undefined {
  return isAbsolute(v) ? undefined : 'must be an absolute path';
}

/** An absolute path, or null for "none". */
export function absolutePathOrNull(v: string | null): string | undefined {
  return v === null ? undefined : absolutePath(v);
}

export function logLevel(v: string): string | undefined {
  return (LOG_LEVELS as readonly string[]).includes(v) ? undefined : `must be one of ${LOG_LEVELS.join(', ')}`;
}

export function storePrefix(v: string): string | undefined {
  return v.startsWith('/') ? undefined : 'must start with "/"';
}

/** A whole number in [min, max]; `unit` names what it counts ("seconds"). */
export function between(min: number, max: number, unit = ''): (v: number) => string | undefined {
  return (v) => (v >= min && v <= max ? undefined : `must be ${min}-${max}${unit ? ` ${unit}` : ''}`);
}

export function cidr(v: string): string | undefined {
  try {
    parseCidr(v);
    return undefined;
  } catch (err) {
    return `must be an IPv4 CIDR: ${(err as Error).message}`;
  }
}

export function cidrList(v: readonly string[]): string | undefined {
  const bad = v.map(cidr).filter((why) => why !== undefined);
  return bad.length === 0 ? undefined : `must be IPv4 CIDRs: ${bad.map((why) => why.replace(/^must be an IPv4 CIDR: /, '')).join(', ')}`;
}
