/**
 * The agent's state files: read once at start, refused when unreadable.
 *
 * Why refuse instead of starting empty: each file is what the agent knows it made
 * (endpoints, namespaces) or holds (subnets). Read as empty, the next reconcile would
 * take every container's veth for a leftover and delete it. A missing file is a
 * fresh start; a file that exists but cannot be read or parsed stops the agent
 * before it changes anything, with one line saying which file and how to recover.
 */
import { readFileSync } from 'node:fs';

import { StateFileUnreadable } from '../errors.js';

/**
 * The parsed content of `file`, checked by `check` (which returns a problem, or
 * undefined when the value is acceptable); undefined when the file does not exist.
 * Throws VXNET_STATE_UNREADABLE naming the file, the reason and `recovery` (what an
 * operator can do instead of fixing the file) when it exists but cannot be read,
 * parsed or accepted.
 */
export function readStateFile<T>(file: string, check: (value: unknown) => string | undefined, recovery: string): T | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new StateFileUnreadable(file, oneLine((err as Error).message), recovery, err);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new StateFileUnreadable(file, oneLine((err as Error).message), recovery, err);
  }
  const problem = check(value);
  if (problem !== undefined) throw new StateFileUnreadable(file, problem, recovery);
  return value as T;
}

function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ');
}

/** A problem with `value` as a list of objects whose `fields` are non-empty strings, or undefined. */
export function recordListProblem(value: unknown, fields: string[]): string | undefined {
  if (!Array.isArray(value)) return 'not a JSON array';
  for (const [i, item] of value.entries()) {
    if (typeof item !== 'object' || item === null) return `entry ${i} is not an object`;
    for (const f of fields) {
      const v = (item as Record<string, unknown>)[f];
      if (typeof v !== 'string' || v === '') return `entry ${i} has no ${f}`;
    }
  }
  return undefined;
}
