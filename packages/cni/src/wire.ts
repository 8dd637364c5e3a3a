/**
 * Between the CNI executable and the agent: `POST /v1/cni` on the agent's local API
 * with the call as the runtime made it (CniRequest: the CNI_* variables and stdin,
 * which the agent parses again with parseCall: it trusts no client). The agent answers 200 with `{ result }` (the
 * result already in the configuration's version) or `{}` when the command prints
 * nothing (DEL, STATUS, GC), and otherwise an error status with `{ error }` (the CNI
 * error body to print).
 */
import type { CniErrorBody } from './protocol.js';

export const CNI_API_PATH = '/v1/cni';

export type CniAnswer = { result?: Record<string, unknown> } | { error: CniErrorBody };

export interface CniRequest {
  /** The CNI_* variables of the call (others are not sent). */
  env: Record<string, string>;
  /** The network configuration, as read from stdin. */
  stdin: string;
}

/** The CNI_* variables of `env`. */
export function cniEnv(env: Record<string, string | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (k.startsWith('CNI_') && v !== undefined) out[k] = v;
  return out;
}
