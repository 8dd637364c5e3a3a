/** Container names: Docker's rule, and Docker-like generated names (adjective_surname). */
import { randomInt } from 'node:crypto';

/** Docker's container name rule. */
export const CONTAINER_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;
/** Names also become DNS names and endpoint names on the agent (at most 64 characters). */
export const MAX_NAME_LENGTH = 64;

const ADJECTIVES = ['admiring', 'bold', 'brave', 'calm', 'clever', 'eager', 'festive', 'gallant', 'happy', 'keen', 'lucid', 'modest', 'nifty', 'quirky', 'serene', 'upbeat', 'vibrant', 'zen'];
const SURNAMES = ['bardeen', 'cerf', 'dijkstra', 'hopper', 'kahn', 'knuth', 'lamport', 'liskov', 'metcalfe', 'pike', 'postel', 'ritchie', 'shannon', 'thompson', 'torvalds', 'wozniak'];

export function generateName(taken: (name: string) => boolean): string {
  for (let i = 0; ; i++) {
    const name = `${ADJECTIVES[randomInt(ADJECTIVES.length)]}_${SURNAMES[randomInt(SURNAMES.length)]}${i > 8 ? randomInt(1000) : ''}`;
    if (!taken(name)) return name;
  }
}

export function nameProblem(name: string): string | undefined {
  if (!CONTAINER_NAME.test(name)) return `invalid container name "${name}": only [a-zA-Z0-9][a-zA-Z0-9_.-]* are allowed`;
  if (name.length > MAX_NAME_LENGTH) return `invalid container name "${name}": at most ${MAX_NAME_LENGTH} characters`;
  return undefined;
}

/** RFC 1123 host name: labels of letters, digits and '-', at most 253 characters. */
export function hostnameProblem(hostname: string): string | undefined {
  const label = /^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;
  if (hostname.length > 253 || !hostname.split('.').every((l) => label.test(l))) return `invalid hostname "${hostname}": use letters, digits, '-' and '.' (RFC 1123)`;
  return undefined;
}
