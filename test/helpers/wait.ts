import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Poll `check` every `everyMs` until it returns a truthy value or `timeoutMs` passes.
 * Resolves with { value, ms } (ms = time until it held); value undefined on timeout.
 */
export async function until<T>(check: () => Promise<T> | T, timeoutMs: number, everyMs = 20): Promise<{ value: T | undefined; ms: number }> {
  const t0 = Date.now();
  for (;;) {
    const v = await check();
    if (v) return { value: v, ms: Date.now() - t0 };
    if (Date.now() - t0 > timeoutMs) return { value: undefined, ms: Date.now() - t0 };
    await sleep(everyMs);
  }
}
