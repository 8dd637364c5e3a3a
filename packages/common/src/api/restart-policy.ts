/**
 * Restart policies (`run --restart`), as docker's: what the engine does when a
 * container's process exits by itself, and when the engine starts.
 *
 *   no                 never restart (the default)
 *   on-failure[:N]     restart after a non-zero exit, at most N times (no N: no limit)
 *   always             restart after any exit; a `stop` holds it until the next `start`
 *   unless-stopped     as always, and an engine start does not bring back one that was stopped
 */

export type RestartPolicyName = 'no' | 'on-failure' | 'always' | 'unless-stopped';

export interface RestartPolicy {
  name: RestartPolicyName;
  /** on-failure only: the most restarts in a row; 0 = no limit. */
  maximumRetryCount: number;
}

export const NO_RESTART: RestartPolicy = Object.freeze({ name: 'no', maximumRetryCount: 0 });

const NAMES: readonly RestartPolicyName[] = ['no', 'on-failure', 'always', 'unless-stopped'];

/**
 * Parse a `--restart` value. Throws an Error whose message says what is wrong, to be
 * prefixed by the caller (`invalid --restart "x": …`).
 */
export function parseRestartPolicy(text: string): RestartPolicy {
  const colon = text.indexOf(':');
  const name = colon < 0 ? text : text.slice(0, colon);
  const count = colon < 0 ? undefined : text.slice(colon + 1);
  if (!(NAMES as readonly string[]).includes(name)) throw new Error(`unknown policy "${name}" (expected ${NAMES.join(', ')}, on-failure:N)`);
  if (count === undefined) return { name: name as RestartPolicyName, maximumRetryCount: 0 };
  if (name !== 'on-failure') throw new Error(`only on-failure takes a retry count (${name}:${count})`);
  if (!/^[0-9]{1,6}$/.test(count)) throw new Error(`the retry count "${count}" is not a whole number from 0 to 999999`);
  return { name: 'on-failure', maximumRetryCount: Number(count) };
}

/** A policy's shape as the API gets it; the problem, or undefined. */
export function restartPolicyProblem(p: RestartPolicy): string | undefined {
  if (!(NAMES as readonly string[]).includes(p.name)) return `unknown restart policy "${String(p.name)}" (expected ${NAMES.join(', ')})`;
  if (!Number.isInteger(p.maximumRetryCount) || p.maximumRetryCount < 0 || p.maximumRetryCount > 999_999) return 'the restart retry count must be a whole number from 0 to 999999';
  if (p.name !== 'on-failure' && p.maximumRetryCount !== 0) return `only on-failure takes a retry count (${p.name}:${p.maximumRetryCount})`;
  return undefined;
}

/** As typed: `on-failure:2`, `always`. */
export function formatRestartPolicy(p: RestartPolicy): string {
  return p.name === 'on-failure' && p.maximumRetryCount > 0 ? `on-failure:${p.maximumRetryCount}` : p.name;
}
