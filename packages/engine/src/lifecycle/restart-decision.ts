/**
 * When a container with a restart policy is run again: the decisions of docker's
 * restart manager (moby restartmanager), as pure functions of the policy and what
 * the container's record says, so they are tested on their own.
 *
 * Back-off, as docker's: 100 ms before the first restart, doubled before each next
 * one, at most 1 minute; back to 100 ms once a run lasted 10 s or more (a container
 * that fails at once is not restarted in a tight loop, one that ran a while comes
 * back fast). `stop` cancels a pending restart and holds the container until the next
 * `start` (which resets the count and the back-off).
 */
import type { RestartPolicy } from '@vxnet/common/api';

export const FIRST_BACKOFF_MS = 100;
export const MAX_BACKOFF_MS = 60_000;
/** A run at least this long resets the back-off. */
export const RESET_AFTER_RUN_MS = 10_000;

/** What the record keeps between restarts. */
export interface RestartState {
  /** Restarts by the policy since the last `run` or `start`. */
  restartCount: number;
  /** The delay before the last restart, ms (0: none yet). */
  backoffMs: number;
}

export interface ExitFacts {
  /** The process's exit code; null when unknown (its shim was killed): taken as a failure. */
  exitCode: number | null;
  /** `stop` (or `restart`) ended it: no restart until the next start. */
  manuallyStopped: boolean;
  /** How long the run lasted, ms. */
  ranMs: number;
}

export type RestartDecision = { restart: false } | { restart: true; delayMs: number; next: RestartState };

/** After an exit: restart or not, after how long, and the state to record. */
export function decideAfterExit(policy: RestartPolicy, exit: ExitFacts, state: RestartState): RestartDecision {
  if (policy.name === 'no' || exit.manuallyStopped) return { restart: false };
  let restart: boolean;
  if (policy.name === 'on-failure') {
    const underLimit = policy.maximumRetryCount === 0 || state.restartCount < policy.maximumRetryCount;
    restart = underLimit && exit.exitCode !== 0;
  } else {
    restart = true; // always, unless-stopped (not stopped by hand, checked above)
  }
  if (!restart) return { restart: false };
  const delayMs = nextBackoff(state.backoffMs, exit.ranMs);
  return { restart: true, delayMs, next: { restartCount: state.restartCount + 1, backoffMs: delayMs } };
}

/**
 * At engine start, for a container that is not running: start it again or not (as
 * dockerd does at its start). always: yes, even if stopped by hand; unless-stopped:
 * unless stopped by hand; on-failure: after a failure within the limit, unless stopped
 * by hand (docker would also restart an on-failure container that `stop` ended with
 * 143; we do not). The delay and state are decideAfterExit's for an immediate exit.
 */
export function decideAtEngineStart(policy: RestartPolicy, exit: Omit<ExitFacts, 'ranMs'>, state: RestartState): RestartDecision {
  if (policy.name === 'always') {
    const delayMs = nextBackoff(state.backoffMs, 0);
    return { restart: true, delayMs, next: { restartCount: state.restartCount + 1, backoffMs: delayMs } };
  }
  return decideAfterExit(policy, { ...exit, ranMs: 0 }, state);
}

/** 100 ms, doubled each time up to 1 min; 100 ms again after a run of 10 s or more. */
export function nextBackoff(lastMs: number, ranMs: number): number {
  if (lastMs <= 0 || ranMs >= RESET_AFTER_RUN_MS) return FIRST_BACKOFF_MS;
  return Math.min(lastMs * 2, MAX_BACKOFF_MS);
}
